"""Builders for label export tests: a team, reading back what reached the retraining bucket."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from django.conf import settings

from cases.labels.services.export import labels_export_pending
from cases.models import Case, CaseStatus, LabelVersion, Transaction
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_team():
    analyst = make_user("ana", "analyst")
    other_analyst = make_user("otto", "analyst")
    lead = make_user("lea", "lead")
    second_lead = make_user("leo", "lead")
    queue = make_queue("General", analyst, other_analyst, lead, sla_hours=8, is_default=True)
    make_reason_codes()
    return analyst, other_analyst, lead, second_lead, queue


def make_held_flip():
    """An analyst's flip of an exported label, held for a lead: (analyst, lead, tx, held)."""
    analyst, _, lead, _, queue = make_team()
    tx = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="fraud")
    labels_export_pending()
    services.transaction_label(actor=analyst, transaction_id=tx.transaction_id, label="legitimate")
    return analyst, lead, tx, LabelVersion.objects.get(status="held")


def axis(index: int, towards: int | None = None, by: float = 0.0) -> np.ndarray:
    """The unit axis `index` of the embedding space, tilted by `by` towards axis `towards`."""
    vector = np.zeros(settings.FRAUDCASE_EMBEDDING_DIM, dtype=np.float32)
    vector[index] = 1.0
    if towards is not None:
        vector[towards] = by
    return vector


def add_tx(case: Case, name: str, *, embedding=None, label: str = "", outcome="investigate"):
    return Transaction.objects.create(
        transaction_id=name, account_id=case.account_id, occurred_at=T0, amount=Decimal("25.00"),
        currency="EUR", similarity_score=0.42, model_version="detector-7", outcome=outcome,
        embedding=embedding, label=label, case=case,
    )  # fmt: skip


def bucket_keys(s3, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def data_keys(s3, bucket: str) -> list[str]:
    return [key for key in bucket_keys(s3, bucket) if key.endswith(".jsonl.gz")]


def read_rows(s3, bucket: str, key: str) -> list[dict]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def all_rows(s3, bucket: str) -> list[dict]:
    return [row for key in data_keys(s3, bucket) for row in read_rows(s3, bucket, key)]


def read_manifest(s3, bucket: str, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
