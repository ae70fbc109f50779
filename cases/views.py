from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from cases import selectors


@login_required
def home(request):
    return render(request, "cases/home.html", selectors.overview())


@login_required
def ingest_runs(request):
    runs = list(selectors.recent_ingest_runs())
    return render(
        request,
        "cases/ingest_runs.html",
        {"runs": runs, "any_running": any(run.status in selectors.UNFINISHED for run in runs)},
    )
