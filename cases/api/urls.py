"""The REST API, version 1 (mounted at /api/v1/ by fraudcase/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cases.api import views_cases

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("cases/", views_cases.CaseListView.as_view(), name="api-case-list"),
    path("cases/<str:reference>/", views_cases.CaseDetailView.as_view(), name="api-case-detail"),
]
