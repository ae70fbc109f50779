"""The case page and its actions: thin views over cases.selectors_case (reads) and the case
services (writes). Every action redirects back with a message, or answers an htmx request with
the part of the page it changed; a domain refusal shows its message, a permission refusal is a
403 page, an unknown case a 404 page.
"""

from __future__ import annotations

import contextlib
from functools import wraps

from botocore.exceptions import ClientError
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from cases import services
from cases.case_exports import case_report_pdf, case_transactions_csv
from cases.errors import ActionNotPermitted, CaseError, CaseNotVisible, InvalidInput, NotFound
from cases.http import problem
from cases.models import Case
from cases.s3 import s3_client
from cases.selectors_case import (
    HISTORY_LIMIT,
    case_actions,
    case_detail,
    case_page,
    case_transaction,
    case_transactions,
    transaction_explanation,
)
from cases.selectors_labels import label_held_for
from cases.services import read_audit
from cases.services.access import refusals_audited, require_permission
from cases.services.annotations import ATTACHMENT_TYPES
from cases.services.common import require_can_work
from cases.uploads import AttachmentSizeLimit

DOWNLOAD_CHUNK_BYTES = 64 * 1024


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def with_case(view):
    """Resolve the case named in the URL for a signed-in user who may read it (cases.policies).

    A user whose role reads no case gets a 403 page (audited) before any lookup; a case that is
    unknown, or that this user may not read, is the same 404 page, so references do not leak.
    """

    @wraps(view)
    def wrapper(request, reference: str, *args, **kwargs):
        try:
            with refusals_audited(
                actor=request.user, attempted="view the case", object_type="cases.case",
                object_repr=reference[:255],
            ):  # fmt: skip
                require_permission(request.user, "view_case", attempted="view cases")
        except ActionNotPermitted as error:
            return problem(request, 403, "Not allowed", error.message)
        case = case_detail(reference, viewer=request.user)
        if case is None:
            hidden = case_detail(reference)
            if hidden is not None:  # there, but not for them: audit the denial
                with contextlib.suppress(CaseNotVisible), refusals_audited(
                    actor=request.user, attempted=f"{request.method} {request.path}"[:200],
                    object_type="cases.case", object_id=hidden.pk, object_repr=hidden.reference,
                ):  # fmt: skip
                    raise CaseNotVisible(f"no case {reference}")
            return problem(
                request, 404, "No such case", f"There is no case {reference}. Check the reference."
            )
        return view(request, case, *args, **kwargs)

    return login_required(wrapper)


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


def _page_urls(case: Case) -> dict:
    # Reversed once per page rather than once per transaction row.
    return {
        "verdict_url": reverse("case-transaction-verdict", args=[case.reference]),
        "why_url": reverse("case-why-flagged", args=[case.reference]),
    }


# --- reading -------------------------------------------------------------------------------


@require_GET
@with_case
def case_detail_view(request, case: Case):
    page = case_page(case, viewer=request.user)
    read_audit.case_viewed(actor=request.user, case=case)
    return render(
        request,
        "cases/case_detail.html",
        {
            "page": page,
            "case": case,
            "actions": case_actions(case, request.user),
            "attachment_max_bytes": settings.FRAUDCASE_ATTACHMENT_MAX_BYTES,
            "history_limit": HISTORY_LIMIT,
            **_page_urls(case),
        },
    )


@require_GET
@with_case
def case_why_flagged(request, case: Case):
    """?transaction=<pk>: that transaction's why-was-this-flagged table (htmx: the fragment)."""
    transaction_pk = request.GET.get("transaction", "")
    explanation = (
        transaction_explanation(case, int(transaction_pk)) if transaction_pk.isdecimal() else None
    )
    if explanation is None:
        return problem(
            request, 404, "No such transaction", f"{case.reference} has no such transaction."
        )
    template = (
        "cases/case/_why_table.html" if _is_htmx(request) else "cases/case/why_flagged_page.html"
    )
    return render(request, template, {"case": case, "explanation": explanation})


@require_GET
@with_case
def case_attachment_download(request, case: Case, attachment_id: int):
    """Stream the attachment from S3 as a download (only attachments of this case)."""
    attachment = case.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        return problem(request, 404, "No such attachment", f"{case.reference} has no such file.")
    try:
        body = s3_client().get_object(Bucket=attachment.s3_bucket, Key=attachment.s3_key)["Body"]
        read_audit.attachment_downloaded(actor=request.user, case=case, attachment=attachment)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        return problem(
            request, 502, "File unavailable",
            f"{attachment.filename} could not be read from storage ({code}); try again later.",
        )  # fmt: skip
    # Always a download of the type checked at upload, never a page the browser may sniff.
    content_type = attachment.content_type
    if content_type not in ATTACHMENT_TYPES:
        content_type = "application/octet-stream"
    response = StreamingHttpResponse(
        body.iter_chunks(DOWNLOAD_CHUNK_BYTES), content_type=content_type
    )
    response["Content-Length"] = str(attachment.size_bytes)
    response["Content-Disposition"] = content_disposition_header(True, attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_GET
@with_case
def case_report(request, case: Case):
    """The suspicious-activity report as a PDF download."""
    page = case_page(case, viewer=request.user, with_similar=False)
    pdf = case_report_pdf(page, generated_by=request.user.get_username())
    read_audit.case_exported(
        actor=request.user, case=case, export_format="pdf", rows=len(page.transactions)
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        True, f"{case.reference}-report.pdf"
    )
    return response


@require_GET
@with_case
def case_export(request, case: Case):
    """The case's transactions as CSV (spreadsheet formulas neutralised)."""
    transactions = case_transactions(case)
    response = HttpResponse(
        case_transactions_csv(case, transactions), content_type="text/csv; charset=utf-8"
    )
    read_audit.case_exported(
        actor=request.user, case=case, export_format="csv", rows=len(transactions)
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"{case.reference}-transactions.csv"
    )
    return response


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
    return _perform(
        request, case,
        lambda: services.case_add_note(
            actor=request.user, case_id=case.pk, body=request.POST.get("body", "")
        ),
        success="Note added.", anchor="notes",
    )  # fmt: skip


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
    if not _is_htmx(request):
        if status == 403:
            return problem(request, 403, "Not allowed", message)
        (messages.error if failed else messages.success)(request, f"{transaction_id}: {message}")
        return _back(case, "transactions")
    if tx is None:
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(
        request,
        "cases/case/_transaction_row.html",
        {
            "tx": case_transaction(case, transaction_id),  # as the service left it
            "case": case,
            "actions": case_actions(case, request.user),
            "row_message": message,
            "row_failed": failed,
            **_page_urls(case),
        },
        status=status,
    )
