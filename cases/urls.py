"""The site's pages, each feature's under its own prefix (Django's admin and sign-in pages are
in fraudcase/urls.py)."""

from django.urls import include, path

from cases.queue import views as queue_views

urlpatterns = [
    # The analyst's home is the triage queue.
    path("", queue_views.queue_page, name="home"),
    path("ingest/", include("cases.ingest.urls")),
    path("audit/", include("cases.audit.urls")),
    path("labels/", include("cases.labels.urls")),
    path("manage/", include("cases.queueadmin.urls")),  # leads: queues, reason codes
    path("notifications/", include("cases.watchers.urls")),
    path("", include("cases.ips.urls")),  # ips/<ip>/, rings/
    path("", include("cases.customer_accounts.urls")),  # accounts/<id>/
    path("cases/", include("cases.queue.urls")),
    # Last: a reference matches any path segment, so fixed paths under cases/ come first.
    path("cases/<str:reference>/", include("cases.casefile.urls")),
]
