"""The REST API, version 1 (mounted at /api/v1/ by fraudcase/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cases.api import views_cases, views_intake

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("cases/", views_cases.CaseListView.as_view(), name="api-case-list"),
    path("cases/<str:reference>/", views_cases.CaseDetailView.as_view(), name="api-case-detail"),
    # intake and ingest runs
    path("flags/", views_intake.FlagSubmitView.as_view(), name="api-flag-submit"),
    path("ingest-runs/", views_intake.IngestRunListView.as_view(), name="api-ingest-run-list"),
    path(
        "ingest-runs/<int:run_id>/",
        views_intake.IngestRunDetailView.as_view(),
        name="api-ingest-run-detail",
    ),
    path(
        "ingest-runs/<int:run_id>/quarantined/",
        views_intake.QuarantinedRowListView.as_view(),
        name="api-ingest-run-quarantined",
    ),
]
