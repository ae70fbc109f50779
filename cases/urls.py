from django.urls import include, path

from cases import views, views_queue

urlpatterns = [
    # The analyst's home is the triage queue.
    path("", views_queue.queue_page, name="home"),
    path("overview/", views.home, name="overview"),
    path("ingest/", views.ingest_runs, name="ingest-runs"),
    path("audit/", include("cases.urls_audit")),
    path("labels/", include("cases.urls_labels")),
    path("ips/", include("cases.urls_ip")),
    path("cases/", include("cases.urls_queue")),
    path("", include("cases.urls_links")),  # rings/, cases/<reference>/links/
    # Last: a reference matches any path segment, so fixed paths under cases/ come first.
    path("cases/<str:reference>/", include("cases.urls_case")),
]
