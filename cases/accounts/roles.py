"""Roles are Django groups carrying permissions; services check permissions, not group names."""

from django.db import models


class Role(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    LEAD = "lead", "Lead"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"
    # Other systems: sync cases and submit flags over the REST API, never sign in to the pages.
    SERVICE = "service", "Service account"


# Permission codenames of the cases app held by each role.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.ANALYST: ("work_case", "view_case", "view_transaction"),
    Role.LEAD: (
        "work_case", "work_any_case", "view_case", "view_transaction", "assign_case",
        "reopen_case", "merge_case", "manage_queues", "release_labels", "view_team_analytics",
    ),
    Role.AUDITOR: (
        "view_case", "view_transaction", "view_audit", "export_audit", "view_auditevent",
        "view_team_analytics",
    ),
    Role.ADMIN: (
        "work_case", "work_any_case", "view_case", "view_transaction", "assign_case",
        "reopen_case", "merge_case", "manage_queues", "release_labels", "view_audit",
        "export_audit", "view_auditevent", "manage_users", "rerun_ingest", "sync_cases",
        "submit_flags", "view_team_analytics",
    ),
    Role.SERVICE: ("view_case", "view_transaction", "sync_cases", "submit_flags"),
}  # fmt: skip

# Roles that must sign in with a second factor (analysts too when the setting says so).
ROLES_REQUIRING_OTP = (Role.LEAD, Role.AUDITOR, Role.ADMIN)


def user_roles(user) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    return set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))


def ensure_roles(**kwargs) -> None:
    """Create the role groups and give each exactly its permissions (idempotent).

    Runs after every migrate, so a role's permissions follow ROLE_PERMISSIONS in the code.
    """
    from django.contrib.auth.models import Group, Permission

    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.filter(
            content_type__app_label="cases", codename__in=codenames
        )
        group.permissions.set(permissions)


def is_service_account(user) -> bool:
    """A machine's account: it holds the service role and no role that uses the pages."""
    roles = user_roles(user)
    return Role.SERVICE in roles and not roles & {Role.ANALYST, Role.LEAD, Role.AUDITOR, Role.ADMIN}
