"""python manage.py rebuild_similarity_index: rebuild the HNSW indexes without blocking analysts."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cases.services.similarity import similarity_index_rebuild, similarity_indexes


class Command(BaseCommand):
    help = (
        "Rebuild the nearest-neighbour (HNSW) indexes concurrently: lookups, ingest and case "
        "work go on meanwhile. Applies changed FRAUDCASE_HNSW_M / FRAUDCASE_HNSW_EF_CONSTRUCTION, "
        "repairs an index a failed build left invalid, and restores quality after a large "
        "ingest. Memory for the build: FRAUDCASE_HNSW_BUILD_MEMORY."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--index",
            choices=[index.name for _, index in similarity_indexes()],
            help="only this index (default: all of them)",
        )

    def handle(self, *args, index: str | None, **options):
        try:
            results = similarity_index_rebuild(
                only=index, progress=lambda message: self.stderr.write(message)
            )
        except (RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            self.stdout.write(f"{result.name}: {result.action} in {result.seconds:.1f} s")
