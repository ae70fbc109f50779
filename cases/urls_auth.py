"""Sign-in pages beyond Django's own login and logout (mounted under /accounts/)."""

from django.urls import path

from cases import views_auth

urlpatterns = [
    path("2fa/", views_auth.two_factor, name="two-factor"),
]
