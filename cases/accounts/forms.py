"""The sign-in form of the pages: service accounts are refused (they use API tokens)."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from cases.accounts.roles import is_service_account


class PagesAuthenticationForm(AuthenticationForm):
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if is_service_account(user):
            raise forms.ValidationError(
                "This is a service account: it uses the REST API with a token and cannot sign "
                "in to the pages.",
                code="service_account",
            )
