"""The REST API, version 1 (mounted at /api/v1/ by fraudcase/urls.py)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cases.api import views_actions, views_annotations, views_cases, views_intake, views_reads

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from local files, its init script a file too: the CSP allows 'self' only.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="cases/api_docs.html"), name="api-docs"),
    # Before cases/<reference>/, which would otherwise take "claim-next" for a reference.
    path("cases/claim-next/", views_actions.CaseClaimNextView.as_view(), name="api-case-claim-next"),
    path("cases/", views_cases.CaseListView.as_view(), name="api-case-list"),
    path("cases/<str:reference>/", views_cases.CaseDetailView.as_view(), name="api-case-detail"),
    # case actions
    path("cases/<str:reference>/assign/", views_actions.CaseAssignView.as_view(), name="api-case-assign"),
    path("cases/<str:reference>/transition/", views_actions.CaseTransitionView.as_view(), name="api-case-transition"),
    path("cases/<str:reference>/close/", views_actions.CaseCloseView.as_view(), name="api-case-close"),
    path("cases/<str:reference>/reopen/", views_actions.CaseReopenView.as_view(), name="api-case-reopen"),
    path("cases/<str:reference>/merge/", views_actions.CaseMergeView.as_view(), name="api-case-merge"),
    path("cases/<str:reference>/notes/", views_annotations.CaseNotesView.as_view(), name="api-case-notes"),
    path("cases/<str:reference>/tags/", views_annotations.CaseTagsView.as_view(), name="api-case-tags"),
    path("cases/<str:reference>/attachments/", views_annotations.CaseAttachmentUploadView.as_view(),
         name="api-case-attachments"),
    path("cases/<str:reference>/attachments/<int:attachment_id>/",
         views_annotations.CaseAttachmentDownloadView.as_view(), name="api-case-attachment"),
    path("transactions/<str:transaction_id>/decision/", views_actions.TransactionDecisionView.as_view(),
         name="api-transaction-decision"),
    path("transactions/<str:transaction_id>/label/", views_actions.TransactionLabelView.as_view(),
         name="api-transaction-label"),
    # read resources
    # Any character, slashes and line breaks too (<path:> stops at a line break): an id the
    # view does not know is the API's own 404, not the site's HTML one.
    re_path(r"^accounts/(?P<account_id>[\s\S]+)/$", views_reads.AccountDetailView.as_view(), name="api-account-detail"),
    path("ips/<str:ip>/", views_reads.IpDetailView.as_view(), name="api-ip-detail"),
    path("cases/<str:reference>/similar-transactions/", views_reads.SimilarTransactionsView.as_view(), name="api-case-similar-transactions"),
    path("cases/<str:reference>/similar-cases/", views_reads.SimilarCasesView.as_view(), name="api-case-similar-cases"),
    path("queues/", views_reads.QueueListView.as_view(), name="api-queue-list"),
    path("label-exports/", views_reads.LabelExportsView.as_view(), name="api-label-exports"),
    path("audit-events/", views_reads.AuditEventListView.as_view(), name="api-audit-events"),
    # intake and ingest runs
    path("flags/", views_intake.FlagSubmitView.as_view(), name="api-flag-submit"),
    path("ingest-runs/", views_intake.IngestRunListView.as_view(), name="api-ingest-run-list"),
    path("ingest-runs/<int:run_id>/", views_intake.IngestRunDetailView.as_view(), name="api-ingest-run-detail"),
    path("ingest-runs/<int:run_id>/quarantined/", views_intake.QuarantinedRowListView.as_view(), name="api-ingest-run-quarantined"),
    # Last: any other path under /api/v1/ is a problem-details 404, not Django's HTML page.
    re_path(r"^.*$", views_cases.NoSuchResource.as_view()),
]  # fmt: skip
