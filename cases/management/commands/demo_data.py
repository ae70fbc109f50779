"""python manage.py demo_data: write realistic flagged transactions and curation records to S3."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cases.s3 import BadS3Uri, ensure_bucket, parse_s3_uri, s3_client


class Command(BaseCommand):
    help = (
        "Generate demo flagged transactions (every supported format, plus a file with rule "
        "breakers and duplicates) and curation IP records, and upload them to S3."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bucket", default=None, help="default: FRAUDCASE_INBOX_BUCKET")
        parser.add_argument("--transactions", type=int, default=30000)
        parser.add_argument("--accounts", type=int, default=4000)
        parser.add_argument("--merchants", type=int, default=1500)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        from cases.demo.generator import (
            MODEL_VERSION,
            demo_files,
            generate_curation_records,
            generate_flagged_transactions,
            generate_shadow_scores,
        )

        for name in ("transactions", "accounts", "merchants", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1, got {options[name]}")
        bucket = options["bucket"] or settings.FRAUDCASE_INBOX_BUCKET
        try:
            parse_s3_uri(f"s3://{bucket}/")
        except BadS3Uri as exc:
            raise CommandError(str(exc)) from exc
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.stdout.write(
            f"Generating {options['transactions']} flagged transactions for "
            f"{options['accounts']} accounts over {options['days']} days..."
        )
        rows = generate_flagged_transactions(
            seed=options["seed"],
            accounts=options["accounts"],
            merchants=options["merchants"],
            transactions=options["transactions"],
            days=options["days"],
            end=end,
            embedding_dim=settings.FRAUDCASE_EMBEDDING_DIM,
        )
        curation = generate_curation_records(rows, seed=options["seed"])
        shadow = generate_shadow_scores(rows, seed=options["seed"], champion=MODEL_VERSION)
        files = demo_files(rows, curation, prefix_date=end.strftime("%Y-%m-%d"), shadow=shadow)
        client = s3_client()
        ensure_bucket(client, bucket)
        for key, body in tqdm(files, desc="upload", unit="file", file=self.stderr._out):
            client.put_object(Bucket=bucket, Key=key, Body=body)
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {len(files)} files to s3://{bucket}/ ({len(rows)} transactions, "
                f"{len(curation)} curation records, {len(shadow)} shadow scores)."
            )
        )
