"""Analytics pages (included from fraudcase/urls.py under analytics/)."""

from django.urls import path

from analytics import views
from analytics.curation.views import curation_page, curation_retry, curation_status
from analytics.drift.views import drift_page
from analytics.labels_health.views import labels_page
from analytics.money.views import money_page
from analytics.operations.views import operations_page
from analytics.quality.views import quality_page

urlpatterns = [
    path("ip-map/", views.ip_map_page, name="ip-map"),
    path("", views.dashboards_page, name="analytics"),
    path("quality/", quality_page, name="analytics-quality"),
    path("drift/", drift_page, name="analytics-drift"),
    path("operations/", operations_page, name="analytics-operations"),
    path("money/", money_page, name="analytics-money"),
    path("labels/", labels_page, name="analytics-labels"),
    path("curation/", curation_page, name="analytics-curation"),
    path("curation/status/", curation_status, name="analytics-curation-status"),
    path("curation/retry/", curation_retry, name="analytics-curation-retry"),
]
