"""Nearest-neighbour upkeep in Celery: the graph's backlog and the cases' neighbour verdicts."""

from __future__ import annotations

from celery import shared_task

from cases import dispatch
from cases.similarity import services as similarity_services
from cases.task_options import recomputable


# Recomputable from the database at any time: retried on database hiccups, redone when a
# worker dies mid-way (acks late), and bounded in time.
@shared_task(**recomputable(soft_seconds=1800))
def refresh_neighbour_verdicts(case_ids: list[int]) -> int:
    """Recompute these cases' centroids and neighbour verdicts (queued by ingest per chunk)."""
    return similarity_services.cases_refresh_neighbour_verdict(case_ids=case_ids)


@shared_task(**recomputable(soft_seconds=1800))
def refresh_neighbours_of_labels() -> int:
    """Refresh the verdicts of open cases near newly labelled transactions (queued on a
    label's commit unless one is pending; one run drains every waiting request, so a burst of
    labels costs one task and one refresh per case). Labels from here on queue the next."""
    dispatch.pending_clear(dispatch.REFRESH_NEIGHBOURS_OF_LABELS)
    return similarity_services.cases_refresh_neighbours_of_labels()


@shared_task(**recomputable(soft_seconds=3 * 3600))
def refresh_open_case_neighbour_verdicts() -> int:
    """Beat: labels given since the last run change open cases' verdicts; recompute them all."""
    return similarity_services.cases_refresh_all_neighbour_verdicts()


# Drains the backlog until it is empty; several at once share it (SKIP LOCKED), and a backlog
# large against the graph (a backfill) is built in at once. Queued after each ingest chunk and
# by beat every minute, so a lost message only delays the graph.
@shared_task(**recomputable(soft_seconds=6 * 3600, max_retries=5))
def index_new_embeddings() -> int:
    """Add the embeddings waiting in the backlog to the nearest-neighbour graph."""
    return similarity_services.similarity_graph_refresh()
