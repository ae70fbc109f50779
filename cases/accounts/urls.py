"""Sign-in pages beyond Django's own login and logout, mounted under /auth/ (fraudcase/urls.py):
/accounts/<id>/ belongs to the customer account pages, whatever the id."""

from django.urls import path

from cases.accounts import token_views
from cases.accounts import views as views_auth

urlpatterns = [
    path("2fa/", views_auth.two_factor, name="two-factor"),
    path("2fa/add/", views_auth.add_authenticator, name="add-authenticator"),
    path("lockouts/", views_auth.lockouts, name="lockouts"),
    path("lockouts/unlock/", views_auth.unlock_user, name="unlock-user"),
    path("tokens/", token_views.api_tokens, name="account-tokens"),
    path(
        "tokens/<int:token_id>/revoke/",
        token_views.api_token_revoke_view,
        name="account-token-revoke",
    ),
]
