"""Compute the dashboards' rollups again from the transactions table (after a bulk load that
bypassed ingest, or to repair them)."""

from django.core.management.base import BaseCommand

from analytics.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild the analytics rollups (batches, features, categories, label facts) in SQL."

    def handle(self, *args, **options):
        for table, rows in rollups_rebuild().items():
            self.stdout.write(f"{table}: {rows} rows")
