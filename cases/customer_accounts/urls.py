"""The account and device pages (included from cases/urls.py). Account ids are the detector's text and may
hold slashes: the path converter takes them whole. Nothing else lives under /accounts/: the
sign-in pages are under /auth/ (fraudcase/urls.py), so an account named "login" opens too."""

from django.urls import path

from cases.customer_accounts import views

urlpatterns = [
    path("accounts/<path:account_id>/", views.account_detail, name="account-detail"),
    path("devices/<path:device_id>/", views.device_detail, name="device-detail"),
]
