"""The overview and the ingest runs page: for roles that read cases (cases.policies)."""

from django.shortcuts import render

from cases import selectors
from cases.http import may_view_cases


@may_view_cases
def home(request):
    return render(request, "cases/home.html", selectors.overview(viewer=request.user))


@may_view_cases
def ingest_runs(request):
    runs = list(selectors.recent_ingest_runs())
    return render(
        request,
        "cases/ingest_runs.html",
        {"runs": runs, "any_running": any(run.status in selectors.UNFINISHED for run in runs)},
    )
