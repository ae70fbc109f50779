"""Pages about source IPs and the fraud rings they tie together (included from cases/urls.py)."""

from django.urls import path

from cases.ips import views

urlpatterns = [
    path("ips/<str:ip>/", views.ip_detail, name="ip-detail"),
    path("rings/", views.rings, name="rings"),
    path("rings/refresh/", views.rings_refresh, name="rings-refresh"),
]
