"""Shadow score upkeep in Celery."""

from __future__ import annotations

from celery import shared_task

from cases.shadow import services as shadow_services
from cases.task_options import recomputable


# Beat: scores delivered before their transaction get linked to it once it is in (shadow
# ingest links the others itself). Idempotent; the flagged ingest path does none of this.
@shared_task(**recomputable(soft_seconds=1800))
def link_shadow_scores() -> int:
    """Link the shadow scores whose transaction has arrived to its id."""
    return shadow_services.shadow_scores_link()
