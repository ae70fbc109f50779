"""The case page and what it offers to read or take away: the page, why a transaction was
flagged, the link graph panel, the PDF report, the CSV export and attachment downloads. Thin
views over cases.casefile.selectors; every read is audited (cases.audit.reads).
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from cases.audit import reads as read_audit
from cases.casefile.exports import ReportExtras, case_report_pdf, case_transactions_csv
from cases.casefile.selectors import (
    HISTORY_LIMIT,
    case_actions,
    case_page,
    case_transactions,
)
from cases.casefile.web import is_htmx, page_urls, transaction_rows, with_case
from cases.casefile.why import transaction_explanation
from cases.http import problem
from cases.ips.selectors.ip import case_ip_map
from cases.ips.selectors.links import case_link_graph
from cases.ips.selectors.rings import account_ring, ring_rank
from cases.models import Case
from cases.s3 import s3_client
from cases.watchers.selectors import case_followers
from cases.workflow.services.attachments import ATTACHMENT_TYPES

DOWNLOAD_CHUNK_BYTES = 64 * 1024


@require_GET
@with_case
def case_detail_view(request, case: Case):
    page = case_page(case, viewer=request.user)
    transaction_rows(page.transactions)
    read_audit.case_viewed(actor=request.user, case=case)
    return render(
        request,
        "cases/case_detail.html",
        {
            "page": page,
            "case": case,
            "ip_map": case_ip_map(case),
            "actions": case_actions(case, request.user),
            **_followers(request.user, case),
            "reply_days": settings.FRAUDCASE_CUSTOMER_REPLY_DAYS,
            "attachment_max_bytes": settings.FRAUDCASE_ATTACHMENT_MAX_BYTES,
            "history_limit": HISTORY_LIMIT,
            **page_urls(case),
        },
    )


def _followers(user, case: Case) -> dict:
    """Who follows the case and whether the viewer does (one query)."""
    followers = case_followers(case)
    return {"followers": followers, "following": user.get_username() in followers}


@require_GET
@with_case
def case_why_flagged(request, case: Case):
    """?transaction=<pk>: that transaction's why-was-this-flagged table (htmx: the fragment)."""
    transaction_pk = request.GET.get("transaction", "")
    explanation = (
        transaction_explanation(case, int(transaction_pk), viewer=request.user)
        if transaction_pk.isdecimal()
        else None
    )
    if explanation is None:
        return problem(
            request, 404, "No such transaction", f"{case.reference} has no such transaction."
        )
    template = (
        "cases/case/_why_table.html" if is_htmx(request) else "cases/case/why_flagged_page.html"
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
    ring = account_ring(case.account_id)
    extras = ReportExtras(
        ip_map=case_ip_map(case), ring=ring, ring_rank=ring_rank(ring) if ring else None
    )
    pdf = case_report_pdf(page, generated_by=request.user.get_username(), extras=extras)
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


@require_GET
@with_case
def case_links(request, case):
    """The case page's link analysis panel (htmx loads it when it scrolls into view)."""
    graph = case_link_graph(case, viewer=request.user)
    ring = account_ring(case.account_id)
    return render(
        request,
        "cases/case/_links_panel.html",
        {
            "case": case,
            "graph": graph,
            "chart_json": json.dumps(graph.chart_data()),
            "ring": ring,
            "ring_rank": ring_rank(ring) if ring else None,
        },
    )
