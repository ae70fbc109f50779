"""The REST API, version 1 (mounted at /api/v1/ by fraudcase/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cases.api import views_cases, views_reads

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from local files, its init script a file too: the CSP allows 'self' only.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="cases/api_docs.html"), name="api-docs"),
    path("cases/", views_cases.CaseListView.as_view(), name="api-case-list"),
    path("cases/<str:reference>/", views_cases.CaseDetailView.as_view(), name="api-case-detail"),
    # read resources
    path("accounts/<str:account_id>/", views_reads.AccountDetailView.as_view(), name="api-account-detail"),
    path("ips/<str:ip>/", views_reads.IpDetailView.as_view(), name="api-ip-detail"),
    path("cases/<str:reference>/similar-transactions/", views_reads.SimilarTransactionsView.as_view(), name="api-case-similar-transactions"),
    path("cases/<str:reference>/similar-cases/", views_reads.SimilarCasesView.as_view(), name="api-case-similar-cases"),
    path("queues/", views_reads.QueueListView.as_view(), name="api-queue-list"),
    path("label-exports/", views_reads.LabelExportsView.as_view(), name="api-label-exports"),
    path("audit-events/", views_reads.AuditEventListView.as_view(), name="api-audit-events"),
]  # fmt: skip
