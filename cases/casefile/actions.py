"""The case page's actions: thin views over the case services (writes). Every action
redirects back with a message, or answers an htmx request with the part of the page it
changed; a domain refusal shows its message, a permission refusal is a 403 page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from cases.audit.trail import refusals_audited
from cases.casefile.selectors import case_actions, case_transaction
from cases.casefile.web import is_htmx, page_urls, transaction_rows, with_case
from cases.errors import ActionNotPermitted, CaseError, InvalidInput, NotFound
from cases.http import problem
from cases.ips.selectors.curation import attach_signals
from cases.labels.selectors.backlog import label_held_for
from cases.models import Case
from cases.workflow import services
from cases.workflow.services.common import require_can_work
from cases.workflow.uploads import AttachmentSizeLimit


def _back(case: Case, anchor: str = ""):
    return redirect(
        reverse("case-detail", args=[case.reference]) + (f"#{anchor}" if anchor else "")
    )


def _expected_version(request) -> int | None:
    raw = request.POST.get("expected_version", "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("the form is out of date: reload the case and try again") from None


def _reply_date(text: str):
    """The customer's reply date from a date field: the end of that day (UTC); None if empty."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text[:20]!r} is not a date like 2026-12-31") from None
    return datetime.combine(day, time(23, 59), tzinfo=UTC)


def _perform(request, case: Case, action, *, success: str, anchor: str = ""):
    """Run one service call; its refusal becomes a message (a 403 page when not permitted)."""
    try:
        action()
    except ActionNotPermitted as error:
        return problem(request, 403, "Not allowed", error.message)
    except CaseError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return _back(case, anchor)


# --- assignment and status -----------------------------------------------------------------


@require_POST
@with_case
def case_assign_to_me(request, case: Case):
    return _perform(
        request, case,
        lambda: services.case_assign_to_me(
            actor=request.user, case_id=case.pk, expected_version=_expected_version(request),
            reason=request.POST.get("reason", ""),
        ),
        success=f"{case.reference} is now assigned to you.",
    )  # fmt: skip


@require_POST
@with_case
def case_assign(request, case: Case):
    def assign():
        try:
            assignee_id = int(request.POST.get("assignee_id", ""))
        except ValueError:
            raise InvalidInput("choose who to assign the case to") from None
        services.case_assign(
            actor=request.user, case_id=case.pk, assignee_id=assignee_id,
            expected_version=_expected_version(request),
        )  # fmt: skip

    return _perform(request, case, assign, success=f"{case.reference} was assigned.")


@require_POST
@with_case
def case_unassign(request, case: Case):
    return _perform(
        request, case,
        lambda: services.case_unassign(
            actor=request.user, case_id=case.pk, expected_version=_expected_version(request)
        ),
        success=f"{case.reference} is back in its queue, unassigned.",
    )  # fmt: skip


@require_POST
@with_case
def case_transition(request, case: Case):
    to_status = request.POST.get("to_status", "")
    return _perform(
        request, case,
        lambda: services.case_transition(
            actor=request.user, case_id=case.pk, to_status=to_status,
            expected_version=_expected_version(request),
            waiting_until=_reply_date(request.POST.get("waiting_until", "")),
        ),
        success=f"{case.reference} moved to {to_status.replace('_', ' ')}.",
    )  # fmt: skip


@require_POST
@with_case
def case_close(request, case: Case):
    return _perform(
        request, case,
        lambda: services.case_close(
            actor=request.user, case_id=case.pk, resolution=request.POST.get("resolution", ""),
            reason_codes=request.POST.getlist("reason_codes"),
            comment=request.POST.get("comment", ""), expected_version=_expected_version(request),
        ),
        success=f"{case.reference} is closed.",
    )  # fmt: skip


@require_POST
@with_case
def case_reopen(request, case: Case):
    return _perform(
        request, case,
        lambda: services.case_reopen(
            actor=request.user, case_id=case.pk, reason=request.POST.get("reason", ""),
            expected_version=_expected_version(request),
        ),
        success=f"{case.reference} is open again (in review).",
    )  # fmt: skip


@require_POST
@with_case
def case_merge(request, case: Case):
    """Fold this case into the target case; on success, go to the target."""
    target = request.POST.get("target", "").strip()
    try:
        if not target:
            raise InvalidInput("enter the reference of the case to merge into, like FC-000123")
        merged = services.case_merge(
            actor=request.user, source_case_id=case.pk, target_case_id=target,
            justification=request.POST.get("justification", ""),
            source_version=_expected_version(request),
        )  # fmt: skip
    except ActionNotPermitted as error:
        return problem(request, 403, "Not allowed", error.message)
    except CaseError as error:
        messages.error(request, error.message)
        return _back(case)
    messages.success(request, f"{case.reference} was merged into {merged.reference}.")
    return _back(merged)


# --- notes, tags, attachments --------------------------------------------------------------


@require_POST
@with_case
def case_add_note(request, case: Case):
    added = []
    response = _perform(
        request, case,
        lambda: added.append(services.case_add_note(
            actor=request.user, case_id=case.pk, body=request.POST.get("body", "")
        )),
        success="Note added.", anchor="notes",
    )  # fmt: skip
    notices = added[0].notices if added else None
    if notices and notices.mentioned:
        messages.info(request, "Notified: " + ", ".join(f"@{n}" for n in notices.mentioned))
    if notices and notices.not_notified:
        messages.warning(
            request,
            "Not notified (no such user, or they cannot see this case): "
            + ", ".join(f"@{name}" for name in notices.not_notified),
        )
    return response


@require_POST
@with_case
def case_tags(request, case: Case):
    add = request.POST.get("add", "").replace(",", " ").split()
    return _perform(
        request, case,
        lambda: services.case_set_tags(
            actor=request.user, case_id=case.pk, add=add, remove=request.POST.getlist("remove")
        ),
        success="Tags updated.",
    )  # fmt: skip


@csrf_exempt  # checked in _case_attach_read, once the size limit is in place
@require_POST
@with_case
def case_attach(request, case: Case):
    """Attach a file: permission before a byte of it is read, then the upload streams through
    AttachmentSizeLimit, which stops at FRAUDCASE_ATTACHMENT_MAX_BYTES.

    An upload handler only counts if it is in place before anything reads the body, and the
    CSRF check reads it: hence csrf_exempt here and csrf_protect on the part that reads (the
    order Django's upload handler documentation gives).
    """
    try:
        with refusals_audited(
            actor=request.user, attempted="case_attach_file", object_type="cases.case",
            object_id=case.pk,
        ):  # fmt: skip
            require_can_work(request.user, case, attempted="attach files")
    except ActionNotPermitted as error:
        return problem(request, 403, "Not allowed", error.message)
    size_limit = AttachmentSizeLimit(request, max_bytes=settings.FRAUDCASE_ATTACHMENT_MAX_BYTES)
    request.upload_handlers.insert(0, size_limit)
    return _case_attach_read(request, case, size_limit)


@csrf_protect
def _case_attach_read(request, case: Case, size_limit: AttachmentSizeLimit):
    upload = request.FILES.get("file")

    def attach():
        if size_limit.refusal:
            with refusals_audited(
                actor=request.user, attempted="case_attach_file", object_type="cases.case",
                object_id=case.pk,
            ):  # fmt: skip
                raise InvalidInput(size_limit.refusal)
        if upload is None:
            raise InvalidInput("choose a file to attach")
        # Read no more than one byte past the limit: the service refuses anything longer.
        content = upload.read(settings.FRAUDCASE_ATTACHMENT_MAX_BYTES + 1)
        services.case_attach_file(
            actor=request.user, case_id=case.pk, filename=upload.name, content=content,
            content_type=(upload.content_type or "").split(";")[0].strip().lower(),
        )  # fmt: skip

    name = upload.name if upload is not None else ""
    return _perform(request, case, attach, success=f"Attached {name}.", anchor="attachments")


# --- per-transaction decision and label ----------------------------------------------------


VERDICTS = {"decision": services.transaction_decide, "label": services.transaction_label}


@require_POST
@with_case
def case_transaction_verdict(request, case: Case):
    """Set one transaction's decision or label (whichever the pressed button carries).

    For htmx the answer is the updated row (with a refusal's message and status); without it,
    a redirect back with a message.
    """
    transaction_id = request.POST.get("transaction_id", "")
    field = next((name for name in VERDICTS if name in request.POST), "decision")
    value = request.POST.get(field, "")
    tx = case_transaction(case, transaction_id)
    status, message, failed = 200, "", False
    try:
        if tx is None:
            raise NotFound(f"{transaction_id!r} is not a transaction of {case.reference}")
        VERDICTS[field](actor=request.user, transaction_id=transaction_id, **{field: value})
        message = f"{field.capitalize()} saved: {value}."
        if field == "label" and (held := label_held_for(transaction_id)):
            message = f"Label {value} held for a lead's review: {held}."
    except CaseError as error:
        status, message, failed = error.http_status, error.message, True
    if not is_htmx(request):
        if status == 403:
            return problem(request, 403, "Not allowed", message)
        (messages.error if failed else messages.success)(request, f"{transaction_id}: {message}")
        return _back(case, "transactions")
    if tx is None:
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    tx = case_transaction(case, transaction_id)  # as the service left it
    attach_signals([tx])
    transaction_rows([tx])
    return render(
        request,
        "cases/case/_transaction_row.html",
        {
            "tx": tx,
            "case": case,
            "actions": case_actions(case, request.user),
            "row_message": message,
            "row_failed": failed,
            **page_urls(case),
        },
        status=status,
    )
