"""Recording audit events: one per change or refusal, in the caller's transaction, hash-chained.

Every service that changes anything calls audit_record inside its own transaction, so the
event commits with the change or not at all. Events are chained: each stores the hash of the
one before, computed under a transaction-scoped advisory lock so the chain has one order.
An event's time is the database's (cases.clock): the transaction's, the same for every event
of one change and for the rows it writes, whichever host's clock is off.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from cases.errors import ActionNotPermitted, CaseError, CaseNotVisible
from cases.ips.ipaddr import canonical_ip, parse_ip
from cases.models import AuditAction, AuditEvent

GENESIS_HASH = "0" * 64
AUDIT_CHAIN_LOCK = 0x4643_4155_4454  # "FCAUDT": one writer at a time extends the chain
SYSTEM_USERNAME = "system"


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_ip: str | None = None
    client_request_id: str = ""
    via_token: str = ""  # the API token's public prefix, when the request came with one


_request_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "fraudcase_audit_request", default=None
)


def set_request_context(
    *, request_id: str = "", client_ip: str | None = None, client_request_id: str = ""
):
    """Bind the request id and client IP for events recorded in this context; returns a token.

    client_request_id is what the client said its request was (untrusted, kept apart).
    """
    return _request_context.set(
        RequestContext(request_id or uuid.uuid4().hex, client_ip, client_request_id[:64])
    )


def reset_request_context(token) -> None:
    _request_context.reset(token)


def bind_api_token(prefix: str) -> None:
    """The request authenticated with this API token: its events say so (the middleware's
    reset at the end of the request undoes this with the rest of the context)."""
    _request_context.set(dataclasses.replace(current_request_context(), via_token=prefix))


def current_request_context() -> RequestContext:
    return _request_context.get() or RequestContext()


def system_actor():
    """The named actor for work done by Celery tasks and management commands."""
    # Created on first need by FraudCase itself: not a change anyone made, so not recorded.
    with model_changes_recorded_by_service():
        user, _ = get_user_model().objects.get_or_create(
            username=SYSTEM_USERNAME,
            defaults={"is_active": False, "first_name": "FraudCase", "last_name": "system"},
        )
    return user


# The signed-in user of the request being served (set by cases.audit.middleware), read lazily
# because signing in changes request.user half-way through a request.
_request_user: contextvars.ContextVar = contextvars.ContextVar(
    "fraudcase_audit_request_user", default=None
)


def set_request_user(get_user):
    """Bind a callable returning the request's user (or None); returns a token to reset."""
    return _request_user.set(get_user)


def reset_request_user(token) -> None:
    _request_user.reset(token)


def current_actor():
    """Who is changing things now: the request's signed-in user, None for an anonymous
    request (recorded as "anonymous"), and the system user outside requests (tasks, commands)."""
    get_user = _request_user.get()
    if get_user is None:
        return system_actor()
    user = get_user()
    return user if user is not None and user.is_authenticated else None


_service_records_changes: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fraudcase_audit_service_records_changes", default=False
)


@contextlib.contextmanager
def model_changes_recorded_by_service():
    """Inside this block the caller writes its own event for the model changes it makes, so
    the model-change receivers (cases.audit.model_changes) record nothing for them."""
    token = _service_records_changes.set(True)
    try:
        yield
    finally:
        _service_records_changes.reset(token)


def model_changes_recorded_elsewhere() -> bool:
    return _service_records_changes.get()


def _normalised(value):
    """JSON-safe form of before/after values, exactly as the JSON column will return them."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def event_hash(event: AuditEvent) -> str:
    """sha256 over the event's content and the previous hash, in a canonical JSON form."""
    content = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "before": _normalised(event.before),
        "after": _normalised(event.after),
        "request_id": event.request_id,
        "client_ip": event.client_ip,
        "previous_hash": event.previous_hash,
    }
    # Only when set, so events from before these fields still verify.
    if event.client_request_id:
        content["client_request_id"] = event.client_request_id
    if event.via_token:
        content["via_token"] = event.via_token
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_chain() -> tuple[datetime, str]:
    """Take the chain's lock (until the transaction ends); return the database's now() for the
    event (cases.clock's clock) and the chain's last hash, in one round trip (every action
    records an event): two statements sent at once, the read starting only once the lock is
    granted, so (READ COMMITTED) it sees the event of the transaction that held it before."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s); SELECT now(), "
            f"(SELECT hash FROM {AuditEvent._meta.db_table} ORDER BY id DESC LIMIT 1)",
            [AUDIT_CHAIN_LOCK],
        )
        cursor.nextset()
        occurred_at, previous = cursor.fetchone()
    return occurred_at, previous or GENESIS_HASH


def audit_record(
    *,
    actor,
    action: AuditAction | str,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event to the trail (in the caller's transaction when there is one).

    obj, when given, fills object type, id and repr (a case shows its reference).
    actor may be None only for sign-in failures of unknown users; its name is copied as text.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(getattr(obj, "reference", "") or obj)
    context = current_request_context()
    # Inside the caller's transaction no savepoint (two round trips): a failure here fails it.
    with transaction.atomic(savepoint=False):
        occurred_at, previous = _lock_chain()
        event = AuditEvent(
            occurred_at=occurred_at,
            actor=actor if actor is not None and actor.pk else None,
            actor_name=_actor_name(actor),
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            object_repr=str(object_repr)[:255],
            before=_normalised(before),
            after=_normalised(after),
            request_id=context.request_id,
            client_request_id=context.client_request_id,
            via_token=context.via_token,
            client_ip=_canonical_ip(context.client_ip),
            previous_hash=previous,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


def audit_record_many(*, actor, action: AuditAction | str, entries: list[dict]) -> list[AuditEvent]:
    """Append one event per entry (keys: obj, before, after) with one COPY.

    For services that change many objects at once (ingest opening thousands of cases): the
    chain is extended in Python under the same lock, so it is identical to one-by-one records.
    """
    if not entries:
        return []
    context = current_request_context()
    with transaction.atomic(savepoint=False):  # as audit_record
        occurred_at, previous = _lock_chain()
        events = []
        for entry in entries:
            obj = entry["obj"]
            event = AuditEvent(
                occurred_at=occurred_at,
                actor=actor if actor is not None and actor.pk else None,
                actor_name=_actor_name(actor),
                action=action,
                object_type=obj._meta.label_lower,
                object_id=str(obj.pk),
                object_repr=str(getattr(obj, "reference", "") or obj)[:255],
                before=_normalised(entry.get("before")),
                after=_normalised(entry.get("after")),
                request_id=context.request_id,
                client_request_id=context.client_request_id,
                via_token=context.via_token,
                client_ip=_canonical_ip(context.client_ip),
                previous_hash=previous,
            )
            event.hash = previous = event_hash(event)
            events.append(event)
        _copy_events(events)
        return events


# What _copy_events writes: every column but the id, which the rows take in COPY order.
_EVENT_COPY_COLUMNS = (
    ("occurred_at", "timestamptz"), ("actor_id", "int4"), ("actor_name", "text"),
    ("action", "text"), ("object_type", "text"), ("object_id", "text"),
    ("object_repr", "text"), ("before", "jsonb"), ("after", "jsonb"),
    ("request_id", "text"), ("client_request_id", "text"), ("via_token", "text"), ("client_ip", "inet"), ("previous_hash", "text"), ("hash", "text"),
)  # fmt: skip


def _copy_events(events: list[AuditEvent]) -> None:
    """Insert events with one COPY, in list order, so ids follow the chain (the ORM's
    bulk_create spent about 100 µs an event: most of opening thousands of cases at ingest).
    The events come back without ids; nothing that records many reads them."""
    names = ", ".join(name for name, _ in _EVENT_COPY_COLUMNS)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {AuditEvent._meta.db_table} ({names}) FROM STDIN") as copy:
            copy.set_types([type_name for _, type_name in _EVENT_COPY_COLUMNS])
            for event in events:
                copy.write_row(tuple(getattr(event, name) for name, _ in _EVENT_COPY_COLUMNS))


def _canonical_ip(ip: str | None) -> str | None:
    """The form PostgreSQL's inet returns, so the hash verifies when the event is read back."""
    address = parse_ip(ip)
    return None if address is None else canonical_ip(address)


def _actor_name(actor) -> str:
    if actor is None:
        return "anonymous"
    full_name = actor.get_full_name() if hasattr(actor, "get_full_name") else ""
    username = actor.get_username()
    return f"{username} ({full_name})" if full_name and full_name != username else username


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
