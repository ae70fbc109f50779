from django.urls import include, path

from cases import views, views_queue

urlpatterns = [
    # The analyst's home is the triage queue.
    path("", views_queue.queue_page, name="home"),
    path("overview/", views.home, name="overview"),
    path("ingest/", views.ingest_runs, name="ingest-runs"),
    path("audit/", include("cases.urls_audit")),
    path("cases/", include("cases.urls_queue")),
    # Last: a reference matches any path segment, so fixed paths under cases/ come first.
    path("cases/<str:reference>/", include("cases.urls_case")),
]
