"""Permission checks and audited refusals, shared by every service."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cases.audit import audit_record
from cases.errors import ActionNotPermitted, CaseError, CaseNotVisible
from cases.models import AuditAction


def require_permission(actor, permission: str, *, attempted: str) -> None:
    """Refuse unless the actor holds cases.<permission> (raises ActionNotPermitted)."""
    if actor is None or not actor.is_active or not actor.has_perm(f"cases.{permission}"):
        raise ActionNotPermitted(
            f"{_name(actor)} may not {attempted.replace('_', ' ')}: "
            f"the role lacks the '{permission}' permission"
        )


@contextlib.contextmanager
def refusals_audited(
    *, actor, attempted: str, object_type: str = "", object_id="", object_repr: str = ""
) -> Iterator[None]:
    """Audit any CaseError raised inside, then re-raise it.

    Wrap it around the service's transaction: the failed change rolls back, and the refusal
    event is written after, so it survives.
    """
    try:
        yield
    except CaseError as error:
        audit_record(
            actor=actor if actor is not None and actor.is_authenticated else None,
            action=AuditAction.PERMISSION_DENIED
            if isinstance(error, ActionNotPermitted | CaseNotVisible)
            else AuditAction.REFUSED,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            after={
                "attempted": attempted,
                "error": getattr(error, "audit_code", error.code),
                "message": error.message,
            },
        )
        raise


def _name(actor) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else "anonymous"
