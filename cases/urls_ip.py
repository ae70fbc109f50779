"""Pages about source IPs, under ips/ (included from cases/urls.py)."""

from django.urls import path

from cases import views_ip

urlpatterns = [
    path("<str:ip>/", views_ip.ip_detail, name="ip-detail"),
]
