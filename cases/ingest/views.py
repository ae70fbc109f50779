"""The Ingest page: recent runs with their progress and books (for roles that read cases)."""

from django.conf import settings
from django.shortcuts import render

from cases.http import may_view_cases
from cases.ingest.selectors import UNFINISHED, recent_ingest_runs


@may_view_cases
def ingest_runs(request):
    runs = list(recent_ingest_runs())
    return render(
        request,
        "cases/ingest_runs.html",
        {
            "runs": runs,
            "any_running": any(run.status in UNFINISHED for run in runs),
            "max_attempts": settings.FRAUDCASE_INGEST_MAX_ATTEMPTS,
        },
    )
