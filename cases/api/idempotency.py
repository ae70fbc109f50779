"""Idempotency-Key on the API's POSTs: a retried request acts once and gets the first answer.

A POST that carries `Idempotency-Key: <key>` (at most 255 printable characters) runs in one
transaction with the row that remembers it (cases.api.models.IdempotentRequest), so the change
and its remembered answer commit together or not at all:

- the first request with a key inserts its row, acts, and stores its status and body;
- a retry (same user and key, same method, path and body) acts no more and gets that status
  and body again, with `Idempotent-Replayed: true`;
- the same key with another method, path or body is a 422 problem;
- a duplicate sent while the first is still running waits on the row's unique index
  ((user, key)) and, once the first commits, gets its answer; if the first failed, it acts.

Only a success (2xx) is remembered: a refused or invalid request changed nothing, so its retry
is judged afresh. Without the header a POST runs as usual.

Use it with `respond_once(request, lambda: ...)` or the `@idempotent` decorator on a view's
post(); pass refusals=... so a CaseError is audited after the rollback (the service's own
refusal event rolls back with the idempotency transaction).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from cases.api.models import IdempotentRequest
from cases.audit.trail import refusals_audited
from cases.locking import retry_on_conflict

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        "this Idempotency-Key was already used for another request (method, path or body "
        "differ): use a new key for a new request"
    )


def request_fingerprint(request) -> str:
    """SHA-256 of the method, path and body (a multipart body: its fields and files' digests,
    as Django has already parsed it through the view's upload handlers)."""
    digest = hashlib.sha256(f"{request.method}\0{request.path}\0".encode())
    if request.content_type.startswith("multipart/"):
        for name in sorted(request.POST):
            for value in request.POST.getlist(name):
                digest.update(f"field\0{name}\0{value}\0".encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                digest.update(f"file\0{name}\0{upload.name}\0".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _key(request) -> str:
    key = request.headers.get(HEADER, "")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise exceptions.ValidationError(
            {HEADER: [f"at most {MAX_KEY_LENGTH} printable characters"]}
        )
    return key


def _replay(stored: IdempotentRequest, request, fingerprint: str) -> Response:
    if (stored.method, stored.path, stored.request_sha256) != (
        request.method,
        request.path,
        fingerprint,
    ):
        raise IdempotencyKeyReused()
    headers = {REPLAYED_HEADER: "true"}
    body = stored.response_body
    etag = body.get("etag") or body.get("case_etag") if isinstance(body, dict) else None
    if etag:
        headers["ETag"] = etag
    return Response(body, status=stored.status_code, headers=headers)


def _respond_once(request, respond: Callable[[], Response]) -> Response:
    key = _key(request)
    if not key:
        return respond()
    fingerprint = request_fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():  # waits here while a duplicate is in flight
                record = IdempotentRequest.objects.create(
                    user=request.user, key=key, method=request.method, path=request.path,
                    request_sha256=fingerprint, status_code=0,
                )  # fmt: skip
        except IntegrityError:
            stored = IdempotentRequest.objects.get(user=request.user, key=key)
            return _replay(stored, request, fingerprint)
        response = respond()
        if not status.is_success(response.status_code):
            transaction.set_rollback(True)  # nothing to remember: the retry is judged afresh
            return response
        # The body as the client got it (dates and decimals as JSON text).
        record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
        record.status_code = response.status_code
        record.save(update_fields=["response_body", "status_code"])
        return response


def respond_once(
    request,
    respond: Callable[[], Response],
    *,
    refusals: dict | None = None,
    audit_after_rollback: bool = False,
):
    """respond() once per Idempotency-Key (see the module docstring); refusals: the
    refusals_audited arguments (attempted, object_type, object_id) for a CaseError raised,
    recorded after the rollback when the change ran in a transaction that the refusal undid
    (an Idempotency-Key's, or the caller's own: audit_after_rollback).

    Such a transaction undone by a deadlock or serialization failure is run again whole
    (cases.locking.retry_on_conflict): the services inside it cannot retry on their own.
    """
    in_transaction = audit_after_rollback or bool(_key(request))
    if in_transaction:
        attempt = functools.partial(
            retry_on_conflict, lambda: _respond_once(request, respond), what=request.path
        )
    else:
        attempt = functools.partial(_respond_once, request, respond)
    if refusals is None or not in_transaction:
        # Without a key nothing is rolled back around the service: its refusal event stands.
        return attempt()
    with refusals_audited(actor=request.user, **refusals):
        return attempt()


def idempotent(post):
    """Decorate an APIView's post(self, request, ...) to honour Idempotency-Key."""

    @functools.wraps(post)
    def wrapper(view, request, *args, **kwargs):
        return respond_once(request, lambda: post(view, request, *args, **kwargs))

    return wrapper
