"""Read resources beside the cases: an account, an IP, a case's similar transactions and cases,
queues, the label export backlog and the audit trail. Thin views over the pages' selectors and
read policy (cases.policies): another queue's data is a 404 or only a count, as on the pages.
A role that may not read a resource at all gets a 403, audited like the pages' refusals."""

from __future__ import annotations

from dataclasses import asdict

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api import serializers_reads as out
from cases.api.errors import PROBLEM_SCHEMA
from cases.api.pagination import NewestFirstCursor
from cases.api.permissions import require
from cases.audit.selectors import audit_events
from cases.ips.ipaddr import canonical_ip, parse_ip
from cases.ips.selectors.ip import ip_usage
from cases.labels.selectors.backlog import label_export_backlog, recent_label_batches
from cases.models import Case, Label, Queue, parse_case_reference
from cases.policies import visible_cases, visible_transactions
from cases.queue.selectors import queue_tabs
from cases.similarity.selectors import (
    hide_unreadable_neighbours,
    similar_cases,
    similar_transactions_for_case,
)
from cases.workflow.selectors import case_for_sync

SIMILAR_K = 10


def problems(*codes: int) -> dict:
    return {code: PROBLEM_SCHEMA for code in (*codes, 401, 429)}


def readable_case(request, reference: str) -> Case:
    """The case, or a 404 alike for one that does not exist and one you may not read."""
    try:
        case_id = parse_case_reference(reference)
    except Exception:
        raise NotFound("no such case") from None
    case = case_for_sync(viewer=request.user, case_id=case_id)
    if case is None:
        raise NotFound("no such case")
    return case


CASE_REFERENCE = OpenApiParameter(
    "reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="FC-000123 (or 123)"
)


@extend_schema(
    parameters=[OpenApiParameter("account_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
    responses={200: out.AccountSerializer, **problems(403, 404)},
)
class AccountDetailView(APIView):
    """An account's cases that you may read and its transaction counts in them; the cases of
    other queues only as a count. 404 when you may read none of its cases."""

    def get(self, request, account_id: str):
        require(request, "view_case", attempted="view accounts", object_type="account")
        every_case = Case.objects.filter(account_id=account_id)
        cases = list(visible_cases(request.user, every_case).select_related("queue").order_by("pk"))
        if not cases:
            raise NotFound("no such account")
        transactions = visible_transactions(request.user).filter(account_id=account_id)
        body = {
            "account_id": account_id,
            "cases": cases,
            "transaction_count": transactions.count(),
            "fraud_count": transactions.filter(label=Label.FRAUD).count(),
            "hidden_case_count": every_case.count() - len(cases),
        }
        return Response(out.AccountSerializer(body).data)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "ip", OpenApiTypes.STR, OpenApiParameter.PATH, description="IPv4 or IPv6 address"
        )
    ],
    responses={200: out.IpUsageSerializer, **problems(403, 404)},
)
class IpDetailView(APIView):
    """Where an IP is and who used it: the accounts, cases and transactions you may read;
    uses in other queues' cases as counts in `hidden`. 404 for text that is no IP address."""

    def get(self, request, ip: str):
        require(request, "view_case", attempted="view IPs", object_type="ip")
        address = parse_ip(ip)
        if address is None:
            raise NotFound("not an IPv4 or IPv6 address")
        canonical = canonical_ip(address)
        usage = ip_usage(canonical, viewer=request.user)
        return Response(out.IpUsageSerializer({"ip": canonical, "usage": usage}).data)


@extend_schema(
    parameters=[CASE_REFERENCE],
    responses={200: out.SimilarTransactionsSerializer, **problems(404)},
)
class SimilarTransactionsView(APIView):
    """The transactions of other cases most similar to this case, most similar first; those in
    cases you may not read show only similarity, label, time and outcome (hidden: true)."""

    def get(self, request, reference: str):
        case = readable_case(request, reference)
        similar = similar_transactions_for_case(case, k=SIMILAR_K)
        hidden = hide_unreadable_neighbours(similar, request.user)
        body = {
            "k": similar.k,
            "has_embedding": similar.has_embedding,
            "message": similar.message,
            "hidden_count": hidden,
            "neighbours": similar.neighbours,
        }
        return Response(out.SimilarTransactionsSerializer(body).data)


@extend_schema(
    parameters=[CASE_REFERENCE],
    responses={200: out.SimilarCasesSerializer, **problems(404)},
)
class SimilarCasesView(APIView):
    """The cases nearest to this one, most similar first; a case you may not read shows only
    similarity, status and resolution (hidden: true), like similar transactions."""

    def get(self, request, reference: str):
        case = readable_case(request, reference)
        similar = similar_cases(case, k=SIMILAR_K)
        readable = set(
            visible_cases(request.user)
            .filter(pk__in=[c.case_id for c in similar.cases])
            .values_list("pk", flat=True)
        )
        shown = []
        for neighbour in similar.cases:
            row = {**asdict(neighbour), "hidden": neighbour.case_id not in readable}
            if row["hidden"]:
                row.update(reference="", account_id="", priority=None, transaction_count=None,
                           neighbour_fraud_score=None)  # fmt: skip
            shown.append(row)
        body = {
            "k": similar.k,
            "has_embedding": similar.has_embedding,
            "message": similar.message,
            "hidden_count": sum(row["hidden"] for row in shown),
            "cases": shown,
        }
        return Response(out.SimilarCasesSerializer(body).data)


@extend_schema(responses={200: out.QueueSerializer(many=True), **problems(403)})
class QueueListView(APIView):
    """The queues: an analyst's own, every queue for leads, admins, auditors and services."""

    def get(self, request):
        require(request, "view_case", attempted="view queues", object_type="cases.queue")
        queue_ids = [tab.queue_id for tab in queue_tabs(user=request.user) if tab.queue_id]
        queues = (
            Queue.objects.filter(pk__in=queue_ids)
            .annotate(member_count=Count("members"))
            .order_by("routing_order", "name")
        )
        return Response(out.QueueSerializer(queues, many=True).data)


@extend_schema(responses={200: out.LabelExportsSerializer, **problems(403)})
class LabelExportsView(APIView):
    """The label export backlog (waiting, held, quarantined) and the newest export batches:
    leads and admins."""

    def get(self, request):
        require(request, "release_labels", attempted="view label exports", object_type="labels")
        body = {"backlog": label_export_backlog(), "recent_batches": recent_label_batches()}
        return Response(out.LabelExportsSerializer(body).data)


@extend_schema(
    parameters=[out.AuditFiltersSerializer],
    responses={200: out.AuditEventSerializer(many=True), **problems(400, 403)},
)
class AuditEventListView(generics.ListAPIView):
    """The audit trail, newest first, in cursor pages: auditors and admins."""

    serializer_class = out.AuditEventSerializer
    pagination_class = NewestFirstCursor

    def get_queryset(self):
        require(self.request, "view_audit", attempted="view the audit trail", object_type="audit")
        params = out.AuditFiltersSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return audit_events(**params.validated_data, limit=None)
