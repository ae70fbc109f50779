"""The case page and its actions, under cases/<reference>/ (included from cases/urls.py)."""

from django.urls import path

from cases import views_case

urlpatterns = [
    path("", views_case.case_detail_view, name="case-detail"),
    path("report.pdf", views_case.case_report, name="case-report-pdf"),
    path("export.csv", views_case.case_export, name="case-export-csv"),
    path("assign/me/", views_case.case_assign_to_me, name="case-assign-to-me"),
    path("assign/", views_case.case_assign, name="case-assign"),
    path("unassign/", views_case.case_unassign, name="case-unassign"),
    path("status/", views_case.case_transition, name="case-transition"),
    path("close/", views_case.case_close, name="case-close"),
    path("reopen/", views_case.case_reopen, name="case-reopen"),
    path("merge/", views_case.case_merge, name="case-merge"),
    path("notes/", views_case.case_add_note, name="case-add-note"),
    path("tags/", views_case.case_tags, name="case-tags"),
    path("attachments/", views_case.case_attach, name="case-attach"),
    path(
        "attachments/<int:attachment_id>/",
        views_case.case_attachment_download,
        name="case-attachment-download",
    ),
    path("why/", views_case.case_why_flagged, name="case-why-flagged"),
    path("verdict/", views_case.case_transaction_verdict, name="case-transaction-verdict"),
]
