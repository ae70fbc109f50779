from django.urls import include, path

from cases import views

urlpatterns = [
    # The analyst's home is the triage queue (cases/urls_queue.py) once it exists; until then
    # the overview.
    path("", views.home, name="home"),
    path("overview/", views.home, name="overview"),
    path("ingest/", views.ingest_runs, name="ingest-runs"),
    path("audit/", include("cases.urls_audit")),
]
