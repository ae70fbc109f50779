"""The case page, what it offers to read, and its actions, under cases/<reference>/
(included from cases/urls.py)."""

from django.urls import path

from cases.casefile import actions, views
from cases.watchers import views as watchers

urlpatterns = [
    path("", views.case_detail_view, name="case-detail"),
    path("report.pdf", views.case_report, name="case-report-pdf"),
    path("export.csv", views.case_export, name="case-export-csv"),
    path("why/", views.case_why_flagged, name="case-why-flagged"),
    path("links/", views.case_links, name="case-links"),
    path(
        "attachments/<int:attachment_id>/",
        views.case_attachment_download,
        name="case-attachment-download",
    ),
    path("assign/me/", actions.case_assign_to_me, name="case-assign-to-me"),
    path("assign/", actions.case_assign, name="case-assign"),
    path("unassign/", actions.case_unassign, name="case-unassign"),
    path("status/", actions.case_transition, name="case-transition"),
    path("close/", actions.case_close, name="case-close"),
    path("reopen/", actions.case_reopen, name="case-reopen"),
    path("merge/", actions.case_merge, name="case-merge"),
    path("notes/", actions.case_add_note, name="case-add-note"),
    path("tags/", actions.case_tags, name="case-tags"),
    path("attachments/", actions.case_attach, name="case-attach"),
    path("verdict/", actions.case_transaction_verdict, name="case-transaction-verdict"),
    path("follow/", watchers.case_follow, name="case-follow"),
    path("unfollow/", watchers.case_unfollow, name="case-unfollow"),
]
