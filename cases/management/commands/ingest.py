"""python manage.py ingest s3://bucket/prefix: take in every object under a prefix."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cases import dispatch
from cases.ingest import services as ingest_services
from cases.models import IngestRun
from cases.s3 import BadS3Uri, parse_s3_uri


class Command(BaseCommand):
    help = (
        "Ingest flagged-transaction files (csv, csv.gz, jsonl, jsonl.gz, parquet) from S3. "
        "Objects already taken in (same bucket, key and ETag) are skipped. Exits non-zero "
        "when any object it covers ended failed, this time or before (a skipped failed run "
        "counts: re-run it from the Ingest admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("uri", help="s3://bucket/prefix (a prefix or one object's key)")
        parser.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="send one Celery task per object instead of ingesting in this process",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, uri: str, run_async: bool, no_progress: bool, **options):
        try:
            bucket, prefix = parse_s3_uri(uri)
        except BadS3Uri as exc:
            raise CommandError(str(exc)) from exc
        registered = [
            ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="ingest command")
            for s3_object in ingest_services.list_objects(bucket=bucket, prefix=prefix)
        ]
        if not registered:
            raise CommandError(f"No objects under {uri}.")
        pending = [run for run, _ in registered if run.status not in ingest_services.FINISHED]
        failed = 0
        for run, _ in registered:
            if run.status in ingest_services.FINISHED:
                line = f"skip {run.uri}: already {run.status} (run {run.pk})"
                if run.status == IngestRun.Status.FAILED:
                    failed += 1
                    self.stdout.write(self.style.ERROR(f"{line}\n          {run.error}"))
                else:
                    self.stdout.write(line)
        if run_async:
            for run in pending:
                dispatch.queue(dispatch.INGEST_OBJECT, run.pk)
            self.stdout.write(
                self.style.SUCCESS(f"queued {len(pending)} object(s) for the workers")
            )
            self._exit_if_failed(failed, len(registered))
            return
        for run in pending:
            run = self._ingest_one(run, show_progress=not no_progress)
            line = (
                f"{run.status:9} {run.uri}: read {run.rows_read}, loaded {run.rows_loaded}, "
                f"duplicates {run.rows_duplicate}, quarantined {run.rows_quarantined}"
            )
            if run.status == IngestRun.Status.FAILED:
                failed += 1
                self.stdout.write(self.style.ERROR(f"{line}\n          {run.error}"))
            else:
                self.stdout.write(self.style.SUCCESS(line))
        self._exit_if_failed(failed, len(registered))

    def _exit_if_failed(self, failed: int, covered: int) -> None:
        if failed:
            raise CommandError(f"{failed} of {covered} object(s) failed; see the messages above.")

    def _ingest_one(self, run: IngestRun, *, show_progress: bool) -> IngestRun:
        with tqdm(
            total=run.size_bytes or None,
            unit="B",
            unit_scale=True,
            desc=run.key[-40:],
            disable=not show_progress,
            file=self.stderr._out,
        ) as bar:

            def progress(current: IngestRun) -> None:
                bar.update(current.bytes_read - bar.n)
                bar.set_postfix(rows=current.rows_read, quarantined=current.rows_quarantined)

            return ingest_services.ingest_run_execute(run_id=run.pk, progress=progress)
