"""Writes of the triage queue: a user's saved views (named filter queries), each audited."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput, NotFound
from cases.models import AuditAction, SavedQueueView
from cases.policies import require_permission

MAX_SAVED_VIEWS = 50
MAX_VIEW_NAME = 80
MAX_VIEW_QUERY = 2000
# What a saved view keeps of the page's query string: the list's own parameters, never a
# page number or a form's token.
SAVED_QUERY_DROPPED = frozenset({"page", "csrfmiddlewaretoken"})


def saved_query(query: str) -> str:
    """The query string as a saved view keeps it: the page number and tokens dropped, empty
    values left out, order kept."""
    pairs = [
        (name, value)
        for name, value in parse_qsl(query or "", keep_blank_values=False)
        if name not in SAVED_QUERY_DROPPED
    ]
    return urlencode(pairs)


def saved_view_create(*, actor, name: str, query: str) -> SavedQueueView:
    """Save the queue's current query under a name for actor (anyone who reads cases).

    Names are unique per user (a second "Mine, breached" is refused, not replaced); at most
    MAX_SAVED_VIEWS per user. One SAVED_VIEW_CREATED event.
    """
    with refusals_audited(
        actor=actor, attempted="saved_view_create", object_type="cases.savedqueueview"
    ):
        require_permission(actor, "view_case", attempted="save queue views")
        name = " ".join((name or "").split())
        if not name:
            raise InvalidInput("a saved view needs a name")
        if len(name) > MAX_VIEW_NAME:
            raise InvalidInput(f"a saved view's name is at most {MAX_VIEW_NAME} characters")
        kept = saved_query(query)
        if len(kept) > MAX_VIEW_QUERY:
            raise InvalidInput(f"the query is longer than {MAX_VIEW_QUERY} characters")
        with transaction.atomic():
            if SavedQueueView.objects.filter(user=actor).count() >= MAX_SAVED_VIEWS:
                raise InvalidInput(f"at most {MAX_SAVED_VIEWS} saved views; delete one first")
            view = SavedQueueView(user=actor, name=name, query=kept)
            view.full_clean(validate_constraints=False)
            try:
                with transaction.atomic():
                    view.save()
            except IntegrityError:
                raise InvalidInput(f"you already have a saved view named {name!r}") from None
            audit_record(
                actor=actor, action=AuditAction.SAVED_VIEW_CREATED, obj=view,
                after={"name": name, "query": kept},
            )  # fmt: skip
            return view


def saved_view_delete(*, actor, view_id: int) -> None:
    """Delete one of actor's own saved views; another user's is NotFound (it does not exist
    for them). One SAVED_VIEW_DELETED event with what was deleted."""
    with refusals_audited(
        actor=actor, attempted="saved_view_delete", object_type="cases.savedqueueview",
        object_id=view_id,
    ):  # fmt: skip
        with transaction.atomic():
            view = SavedQueueView.objects.select_for_update().filter(pk=view_id, user=actor).first()
            if view is None:
                raise NotFound(f"no saved view {view_id}")
            before = {"name": view.name, "query": view.query}
            audit_record(
                actor=actor, action=AuditAction.SAVED_VIEW_DELETED, obj=view, before=before
            )
            view.delete()
