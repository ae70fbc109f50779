"""API tokens: created and revoked by their user or an admin, stored hashed, shown once.

A token reads fc_<prefix>_<secret>: the prefix finds the row (and names the token in the audit
trail), the secret is checked against its sha256 in constant time. 160 random bits: no salt
or stretching needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import transaction
from django.db.models import OuterRef, Value
from django.db.models.functions import Concat
from django.utils import timezone

from cases.accounts.models import ApiToken
from cases.accounts.users import _is_system_actor
from cases.audit.trail import audit_record, refusals_audited
from cases.errors import ActionNotPermitted, InvalidInput, NotFound
from cases.models import AuditAction

TOKEN_PREFIX = "fc"
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plain: str  # shown once


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _may_manage_tokens_of(actor, user) -> bool:
    if _is_system_actor(actor):  # manage.py create_api_token, run by an operator
        return True
    return (
        actor is not None
        and actor.is_active
        and (actor.pk == user.pk or actor.has_perm("cases.manage_users"))
    )


def api_token_create(
    *, actor, user_id: int, name: str, scope: str, expires_at: datetime | None = None
) -> IssuedToken:
    """A new token for the user (their own, or any user's for an admin); audited."""
    with refusals_audited(actor=actor, attempted="api_token_create", object_type="auth.user",
                          object_id=user_id):  # fmt: skip
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise NotFound(f"no active user with id {user_id}")
        if not _may_manage_tokens_of(actor, user):
            raise ActionNotPermitted(
                f"{actor.get_username()} may not create tokens for {user.get_username()}: "
                "only for themselves, or as an admin"
            )
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidInput(f"name the token (1 to {MAX_NAME_LENGTH} characters)")
        if scope not in ApiToken.Scope.values:
            raise InvalidInput(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
        if expires_at is not None and expires_at <= timezone.now():
            raise InvalidInput("the expiry must be in the future")
        prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(20)
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user, name=name, prefix=prefix, secret_hash=secret_hash(secret),
                scope=scope, created_by=actor, expires_at=expires_at,
            )  # fmt: skip
            audit_record(
                actor=actor, action=AuditAction.API_TOKEN_CREATED, obj=user,
                after={"token": prefix, "name": name, "scope": scope,
                       "expires_at": expires_at.isoformat() if expires_at else None},
            )  # fmt: skip
        return IssuedToken(token=token, plain=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def api_token_revoke(*, actor, token_id: int) -> ApiToken:
    """Revoke a token (its user or an admin); it stops working at once. Idempotent."""
    with refusals_audited(actor=actor, attempted="api_token_revoke", object_type="cases.apitoken",
                          object_id=token_id):  # fmt: skip
        with transaction.atomic():
            token = (
                ApiToken.objects.select_for_update()
                .select_related("user")
                .filter(pk=token_id)
                .first()
            )
            if token is None or not _may_manage_tokens_of(actor, token.user):
                raise NotFound(f"no token {token_id}")
            if token.revoked_at is None:
                token.revoked_at = timezone.now()
                token.save(update_fields=["revoked_at"])
                audit_record(
                    actor=actor, action=AuditAction.API_TOKEN_REVOKED, obj=token.user,
                    after={"token": token.prefix, "name": token.name},
                )  # fmt: skip
            return token


def _permission_names(permissions) -> ArraySubquery:
    return ArraySubquery(
        permissions.annotate(
            dotted_name=Concat("content_type__app_label", Value("."), "codename")
        ).values("dotted_name")
    )


# What ModelBackend would read in two more queries at the request's first permission check.
_USER_PERMISSIONS = _permission_names(Permission.objects.filter(user=OuterRef("user_id")))
_GROUP_PERMISSIONS = _permission_names(Permission.objects.filter(group__user=OuterRef("user_id")))


def _hand_permissions_to(user, user_perms: list[str], group_perms: list[str]) -> None:
    """Fill ModelBackend's per-request caches on the user (read with the token, one round trip
    instead of three). A superuser is left to the backend: it has every permission."""
    if user.is_superuser:
        return
    user._user_perm_cache = set(user_perms)
    user._group_perm_cache = set(group_perms)
    user._perm_cache = user._user_perm_cache | user._group_perm_cache


def api_token_for(plain: str) -> ApiToken | None:
    """The usable token this text is, else None (unknown, malformed, wrong secret, expired or
    revoked: the caller answers 401 alike). Notes the time of use, at most once a minute."""
    parts = (plain or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .annotate(user_perms=_USER_PERMISSIONS, group_perms=_GROUP_PERMISSIONS)
        .filter(prefix=parts[1])
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, secret_hash(parts[2])):
        return None
    now = timezone.now()
    if not token.usable(now) or not token.user.is_active:
        return None
    _hand_permissions_to(token.user, token.user_perms, token.group_perms)
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
