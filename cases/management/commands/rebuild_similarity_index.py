"""python manage.py rebuild_similarity_index: rebuild the HNSW indexes without blocking analysts."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cases.similarity.index_builds import (
    similarity_graph_bulk_fill,
    similarity_index_rebuild,
    similarity_indexes,
)


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
        parser.add_argument(
            "--fill-backlog",
            action="store_true",
            help=(
                "instead: add every embedding waiting in the backlog to the nearest-neighbour "
                "graph with one index build (after a large backfill: minutes instead of hours)"
            ),
        )

    def handle(self, *args, index: str | None, fill_backlog: bool, **options):
        if fill_backlog:
            try:
                settled = similarity_graph_bulk_fill(
                    progress=lambda message: self.stderr.write(message)
                )
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{settled} backlog entries settled in one graph build")
            return
        try:
            results = similarity_index_rebuild(
                only=index, progress=lambda message: self.stderr.write(message)
            )
        except (RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            self.stdout.write(f"{result.name}: {result.action} in {result.seconds:.1f} s")
