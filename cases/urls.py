from django.urls import include, path

from cases import views

urlpatterns = [
    path("", views.home, name="home"),
    path("ingest/", views.ingest_runs, name="ingest-runs"),
    path("audit/", include("cases.urls_audit")),
]
