"""API tokens page: a signed-in user lists their tokens, creates one (shown once, never
stored in plain) and revokes one. Thin views over cases.accounts.tokens."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from cases.accounts.models import ApiToken
from cases.accounts.tokens import MAX_NAME_LENGTH, api_token_create, api_token_revoke
from cases.errors import CaseError
from cases.http import problem

MAX_EXPIRY_DAYS = 3650


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=MAX_NAME_LENGTH, help_text="what uses it, e.g. 'nightly sync'"
    )
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=MAX_EXPIRY_DAYS, required=False,
        help_text="leave empty for a token that does not expire",
    )  # fmt: skip


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """GET: the user's tokens and the form. POST: a new token, shown once on the result page
    (no-store: never kept by a browser or proxy cache)."""
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            issued = api_token_create(
                actor=request.user, user_id=request.user.pk, name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )  # fmt: skip
        except CaseError as error:
            form.add_error(None, error.message)
        else:
            response = render(request, "registration/token_created.html", {"issued": issued})
            response["Cache-Control"] = "no-store"
            return response
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk")
    return render(
        request,
        "registration/tokens.html",
        {"form": form, "tokens": tokens, "now": timezone.now()},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    """Revoke one of the user's own tokens (another's is a 404, as if it did not exist)."""
    try:
        token = api_token_revoke(actor=request.user, token_id=token_id)
    except CaseError as error:
        return problem(request, error.http_status, "Not found", error.message)
    messages.success(request, f"Token {token.name!r} ({token.prefix}) is revoked.")
    return redirect("account-tokens")
