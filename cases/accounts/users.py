"""User accounts and their roles, managed by admins (the manage_users permission).

The system actor (management commands such as create_user, run by whoever operates the server)
may manage users too: it holds no permissions itself, since it is inactive and can't sign in.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from cases.accounts.roles import Role, user_roles
from cases.audit.trail import (
    SYSTEM_USERNAME,
    audit_record,
    model_changes_recorded_by_service,
    refusals_audited,
)
from cases.errors import InvalidInput, NotFound
from cases.models import AuditAction
from cases.policies import require_permission

User = get_user_model()


def user_create(
    *,
    actor,
    username: str,
    email: str = "",
    password: str | None = None,
    roles: list[str],
    is_superuser: bool = False,
) -> User:
    """Create an active user with at least one role (audited USER_CREATED).

    Without a password the account can't sign in with one until a password is set.
    is_superuser (staff too) is for an install's first admin and the demo. Refused: a taken
    username (case-insensitive), an unknown role, a password Django's validators reject.
    """
    with refusals_audited(actor=actor, attempted="user_create", object_type="auth.user"):
        require_user_manager(actor, attempted="create users")
        role_names = _valid_roles(roles)
        if not role_names:
            raise InvalidInput(f"give the user at least one role: {', '.join(Role.values)}")
        username = (username or "").strip()
        if username.lower() == SYSTEM_USERNAME:
            raise InvalidInput(f"the username {username!r} is reserved for FraudCase itself")
        with transaction.atomic(), model_changes_recorded_by_service():
            if User.objects.filter(username__iexact=username).exists():
                raise InvalidInput(f"the username {username!r} is taken")
            user = User(
                username=username,
                email=User.objects.normalize_email(email.strip()),
                is_staff=is_superuser,
                is_superuser=is_superuser,
            )
            _clean(user, exclude=["password"])
            if password is None:
                user.set_unusable_password()
            else:
                try:
                    password_validation.validate_password(password, user=user)
                except ValidationError as error:
                    problems = " ".join(error.messages)
                    raise InvalidInput(f"the password is too weak: {problems}") from error
                user.set_password(password)
            user.save()
            user.groups.set(_role_groups(role_names))
            audit_record(
                actor=actor,
                action=AuditAction.USER_CREATED,
                obj=user,
                after={
                    "username": user.username,
                    "email": user.email,
                    "roles": role_names,
                    "is_superuser": is_superuser,
                    "has_password": password is not None,
                },
            )
            return user


def user_set_roles(*, actor, user_id: int, roles: list[str]) -> User:
    """Give the user exactly these roles (audited USER_ROLES_CHANGED with before and after).

    Groups that are not roles are kept. An empty list takes every role away. Setting the roles
    the user already has changes nothing and records nothing.
    """
    with refusals_audited(
        actor=actor, attempted="user_set_roles", object_type="auth.user", object_id=user_id
    ):
        require_user_manager(actor, attempted="change user roles")
        role_names = _valid_roles(roles)
        with transaction.atomic(), model_changes_recorded_by_service():
            user = User.objects.select_for_update().filter(pk=user_id).first()
            if user is None:
                raise NotFound(f"no user with id {user_id}")
            before = sorted(user_roles(user))
            if before == role_names:
                return user
            user.groups.remove(*Group.objects.filter(name__in=set(before) - set(role_names)))
            user.groups.add(*_role_groups(role_names))
            audit_record(
                actor=actor,
                action=AuditAction.USER_ROLES_CHANGED,
                obj=user,
                before={"roles": before},
                after={"roles": role_names},
            )
            return user


def require_user_manager(actor, *, attempted: str) -> None:
    if _is_system_actor(actor):
        return
    require_permission(actor, "manage_users", attempted=attempted)


def _is_system_actor(actor) -> bool:
    # The system user is inactive: nobody can sign in as it, so only server-side code acts as it.
    return (
        actor is not None
        and actor.pk is not None
        and not actor.is_active
        and actor.get_username() == SYSTEM_USERNAME
    )


def _valid_roles(roles: list[str]) -> list[str]:
    """Sorted, de-duplicated role names; unknown ones refused with the list of known ones."""
    if isinstance(roles, str):
        roles = [roles]
    unknown = sorted({str(role) for role in roles} - set(Role.values))
    if unknown:
        raise InvalidInput(
            f"unknown role(s): {', '.join(unknown)}; the roles are {', '.join(Role.values)}"
        )
    return sorted({str(role) for role in roles})


def _role_groups(role_names: list[str]) -> list[Group]:
    groups = list(Group.objects.filter(name__in=role_names))
    if len(groups) != len(role_names):
        # ensure_roles creates them after every migrate
        raise InvalidInput("the role groups are missing: run python manage.py migrate")
    return groups


def _clean(user, *, exclude: list[str]) -> None:
    try:
        user.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as error:
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
        raise InvalidInput(f"invalid user: {problems}") from error
