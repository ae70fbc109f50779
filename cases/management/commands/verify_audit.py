"""python manage.py verify_audit: recompute the audit trail's hash chain and compare it with
the anchors in the audit bucket. Exit 0 intact, 1 broken, 2 the anchors could not be read."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cases.audit.anchors import audit_anchors_verify
from cases.audit.selectors import audit_chain_verify
from cases.models import AuditEvent

# Below this many events the check takes under a second: no bar.
PROGRESS_BAR_FROM = 20_000


class Command(BaseCommand):
    help = (
        "Check that no audit event was altered or removed: recompute every hash and link in id "
        "order, then compare the trail with every anchor in the audit bucket (a cut tail or a "
        "rehashed chain). Prints OK lines, or BROKEN with every problem and exits with status 1; "
        "exits 2 when the anchors can't be read."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000, help="events read per query")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--no-anchors", action="store_true", help="check the chain only, not the anchors"
        )

    def handle(self, *args, batch_size: int, no_progress: bool, no_anchors: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        # An estimate for the bar only: the walk itself reads to the end, whatever arrives.
        total = AuditEvent.objects.count()
        with tqdm(
            total=total,
            unit="event",
            unit_scale=True,
            desc="verifying",
            disable=no_progress or total < PROGRESS_BAR_FROM,
            file=self.stderr._out,
        ) as bar:
            report = audit_chain_verify(batch_size=batch_size, progress=bar.update)
        anchors, unreadable = None, ""
        if not no_anchors:
            try:
                anchors = audit_anchors_verify()
            except (BotoCoreError, ClientError) as exc:
                unreadable = (
                    f"could not read the anchors in bucket {settings.FRAUDCASE_AUDIT_BUCKET}: "
                    f"{exc} (--no-anchors skips them knowingly)"
                )
        problems = []
        if not report.ok:
            problems.append(
                f"audit trail BROKEN at event {report.first_bad_event_id} "
                f"(recorded {report.first_bad_event_at.isoformat()}): {report.problem}; "
                f"{report.events_checked} event(s) read"
            )
        if anchors is not None:
            for warning in anchors.warnings:
                self.stderr.write(f"WARNING: {warning}")
            problems += [f"audit trail BROKEN: {problem}" for problem in anchors.problems]
        if problems:
            for problem in problems[1:]:
                self.stderr.write(problem)
            if unreadable:
                self.stderr.write(f"WARNING: {unreadable}")
            more = f" (and {len(problems) - 1} more problem(s) above)" if len(problems) > 1 else ""
            raise CommandError(problems[0] + more)
        self.stdout.write(
            self.style.SUCCESS(f"OK: audit trail intact, {report.events_checked} event(s) checked")
        )
        if unreadable:
            raise CommandError(unreadable, returncode=2)
        if anchors is not None and anchors.anchors_checked:
            self.stdout.write(
                self.style.SUCCESS(
                    f"OK: {anchors.anchors_checked} anchor(s) match, the newest at event "
                    f"{anchors.newest_event_id} ({anchors.newest_anchored_at.isoformat()})"
                )
            )
