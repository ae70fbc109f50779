"""python manage.py anchor_audit: anchor the audit chain's head in the audit bucket now."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from cases.audit.anchors import audit_anchor
from cases.audit.trail import system_actor


class Command(BaseCommand):
    help = (
        "Write the audit chain's head (event id, hash, time, count) to the audit bucket, once "
        "per head, and record it in the trail. Beat does this every "
        "FRAUDCASE_AUDIT_ANCHOR_SECONDS; verify_audit compares the trail with every anchor."
    )

    def handle(self, *args, **options):
        result = audit_anchor(actor=system_actor())
        bucket = settings.FRAUDCASE_AUDIT_BUCKET
        if result is None:
            self.stdout.write("nothing to anchor: no event since the last anchor")
        elif not result.created:
            self.stdout.write(
                f"already anchored: event {result.event_id} at s3://{bucket}/{result.key}"
            )
        else:
            lock = (
                "with Object Lock"
                if result.object_lock
                else "without Object Lock (the bucket has none)"
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"anchored event {result.event_id} at s3://{bucket}/{result.key} {lock}"
                )
            )
