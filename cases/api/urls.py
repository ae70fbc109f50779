"""The REST API, version 1 (mounted at /api/v1/ by fraudcase/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cases.api import views_actions, views_annotations, views_cases

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("cases/", views_cases.CaseListView.as_view(), name="api-case-list"),
    path("cases/<str:reference>/", views_cases.CaseDetailView.as_view(), name="api-case-detail"),
]

# case actions
urlpatterns = [
    # Before cases/<reference>/, which would otherwise take "claim-next" for a reference.
    path("cases/claim-next/", views_actions.CaseClaimNextView.as_view(), name="api-case-claim-next"),
    *urlpatterns,
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
]  # fmt: skip
