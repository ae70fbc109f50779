"""Analytics pages (included from fraudcase/urls.py under analytics/)."""

from django.urls import path

from analytics import views

urlpatterns = [
    path("ip-map/", views.ip_map_page, name="ip-map"),
]
