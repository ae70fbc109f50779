from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from cases import selectors


@login_required
def home(request):
    return render(request, "cases/home.html", selectors.overview())


@login_required
def ingest_runs(request):
    return render(request, "cases/ingest_runs.html", {"runs": selectors.recent_ingest_runs()})
