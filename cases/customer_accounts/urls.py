"""The account and device pages (included from cases/urls.py). Account ids are the detector's text and may
hold slashes: the path converter takes them whole. Django's sign-in pages under /accounts/
(fraudcase/urls.py) come first."""

from django.urls import path

from cases.customer_accounts import views

urlpatterns = [
    path("accounts/<path:account_id>/", views.account_detail, name="account-detail"),
    path("devices/<path:device_id>/", views.device_detail, name="device-detail"),
]
