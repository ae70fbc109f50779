"""python manage.py export_training_set --since DATE: the current label per transaction."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cases.dateranges import parse_moment
from cases.errors import InvalidInput
from cases.labels.selectors.training_set import ExportCorrupt, training_set_assemble


def _since(value: str) -> datetime:
    try:
        since = parse_moment(value, name="--since")
    except InvalidInput as error:
        raise CommandError(error.message) from error
    if since is None:
        raise CommandError("--since needs a date (YYYY-MM-DD) or an ISO timestamp")
    return since


class Command(BaseCommand):
    help = (
        "Assemble the training set from the exported label batches in the retraining bucket: "
        "the current label of every transaction labelled since DATE (latest version wins, "
        "quarantined versions retracted), as JSON Lines (gzipped when PATH ends in .gz)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="YYYY-MM-DD or an ISO timestamp (UTC)")
        parser.add_argument("--output", default="-", help="file to write; - for stdout")
        parser.add_argument("--bucket", default="", help="defaults to FRAUDCASE_RETRAINING_BUCKET")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, since: str, output: str, bucket: str, no_progress: bool, **options):
        since_at = _since(since)
        with tqdm(
            unit="batch", desc="reading batches", disable=no_progress, file=self.stderr._out
        ) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(1)

            try:
                training_set = training_set_assemble(
                    since=since_at, bucket=bucket or None, progress=progress
                )
            except ExportCorrupt as error:
                raise CommandError(str(error)) from error
        lines = "".join(
            json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in training_set.rows
        )
        if output == "-":
            self.stdout.write(lines, ending="")
        elif output.endswith(".gz"):
            with gzip.open(output, "wt", encoding="utf-8") as handle:
                handle.write(lines)
        else:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(lines)
        self.stderr.write(
            f"{len(training_set.rows)} transaction(s) from {training_set.rows_read} exported "
            f"row(s) in {training_set.batches_read} batch(es)"
        )
