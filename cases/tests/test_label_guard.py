"""The label guard judges an analyst's share of labels against the model, not their speed;
historical truth comes in through a lead's import."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from cases.errors import ActionNotPermitted, InvalidInput
from cases.labels.services.export import labels_export_pending
from cases.labels.services.imports import labels_import, labels_import_parse
from cases.models import (
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    HoldReason,
    LabelSource,
    LabelVersion,
    Transaction,
)
from cases.tests.label_fixtures import T0, all_rows, make_team
from cases.workflow import services

pytestmark = pytest.mark.django_db


def make_cases(queue, count: int, *, outcome: str, neighbour_fraud_share: float, prefix: str):
    """count open cases of one transaction each, the detector's outcome and the neighbours'
    verdict set (no embedding: the verdict is the case's summary)."""
    cases = Case.objects.bulk_create(
        Case(account_id=f"{prefix}_{i}", queue=queue, status=CaseStatus.IN_REVIEW,
             neighbour_summary={"fraud_share": neighbour_fraud_share})
        for i in range(count)
    )  # fmt: skip
    return Transaction.objects.bulk_create(
        Transaction(transaction_id=f"{prefix}_tx_{i}", account_id=case.account_id, occurred_at=T0,
                    amount=Decimal("40.00"), currency="EUR", similarity_score=0.5,
                    model_version="detector-7", outcome=outcome, case=case)
        for i, case in enumerate(cases)
    )  # fmt: skip


def label(actor, tx, value):
    services.transaction_label(actor=actor, transaction_id=tx.transaction_id, label=value)


def statuses(analyst) -> list[str]:
    return list(
        LabelVersion.objects.filter(analyst=analyst).order_by("id").values_list("status", flat=True)
    )


def test_a_malicious_analyst_flipping_50_labels_against_the_model_is_held():
    analyst, _, _, _, queue = make_team()
    # The detector would block, the neighbours say fraud: "legitimate" contradicts both.
    targets = make_cases(queue, 50, outcome="block", neighbour_fraud_share=1.0, prefix="flip")

    for tx in targets:
        label(analyst, tx, "legitimate")

    # 20 contradicting labels, all of the analyst's (100 % against the team's 10 % prior).
    assert statuses(analyst) == ["pending"] * 19 + ["held"] * 31
    held = LabelVersion.objects.filter(hold_reason=HoldReason.CONTRADICTION_BURST)
    assert held.count() == 31
    first_hold = AuditEvent.objects.filter(action=AuditAction.LABEL_HELD).order_by("id").first()
    assert first_hold.after["guard"] == {
        "contradicting": 20, "labels": 20, "share": 1.0, "team_share": 0.1, "team_labels": 0,
    }  # fmt: skip


def test_an_honest_analyst_labelling_500_cases_in_an_hour_a_third_detector_misses_is_not_held():
    analyst, _, _, _, queue = make_team()
    # Misses: the detector approved, the (still unlabelled) neighbours say legitimate, it was
    # fraud. The rest agree with the detector.
    misses = make_cases(queue, 167, outcome="approve", neighbour_fraud_share=0.0, prefix="miss")
    blocked = make_cases(queue, 167, outcome="block", neighbour_fraud_share=1.0, prefix="block")
    approved = make_cases(queue, 166, outcome="approve", neighbour_fraud_share=0.0, prefix="ok")
    # One of each in turn: neither highest score first nor the misses first.
    work = [
        item
        for trio in zip(misses, blocked, approved + [None], strict=True)
        for item in zip(trio, ("fraud", "fraud", "legitimate"), strict=True)
        if item[0] is not None
    ]
    for tx, value in work:
        label(analyst, tx, value)

    assert len(statuses(analyst)) == 500
    assert set(statuses(analyst)) == {"pending"}
    assert LabelVersion.objects.filter(analyst=analyst, contradicts_model=True).count() == 167
    assert not AuditEvent.objects.filter(action=AuditAction.LABEL_HELD).exists()


def test_the_team_rate_raises_the_bar_when_the_detector_misses_a_lot(settings):
    analyst, other, _, _, queue = make_team()
    settings.FRAUDCASE_LABEL_GUARD_TEAM_MIN_LABELS = 10
    # The team's history: 60 % of its labels contradict the model.
    team_misses = make_cases(queue, 12, outcome="approve", neighbour_fraud_share=0.0, prefix="tm")
    team_agree = make_cases(queue, 8, outcome="block", neighbour_fraud_share=1.0, prefix="ta")
    for tx in team_misses + team_agree:
        label(other, tx, "fraud")
    # An analyst at 60 % too: not held (it would be against the 10 % prior).
    mine = make_cases(queue, 30, outcome="approve", neighbour_fraud_share=0.0, prefix="m")
    agree = make_cases(queue, 20, outcome="block", neighbour_fraud_share=1.0, prefix="a")
    for step in range(10):  # three against the model, two with it, in turn
        for tx in mine[3 * step : 3 * step + 3] + agree[2 * step : 2 * step + 2]:
            label(analyst, tx, "fraud")
    assert LabelVersion.objects.filter(analyst=analyst, contradicts_model=True).count() == 30

    assert set(statuses(analyst)) == {"pending"}


# --- imports ---------------------------------------------------------------------------------

FILE = """transaction_id,label,reason_codes,decided_at
imp_tx_0,fraud,card-compromised,2026-10-01T10:00:00+00:00
imp_tx_1,legitimate,,
imp_tx_2,legitimate,,
"""


def test_a_lead_imports_chargebacks_versioned_audited_and_exported_as_import(settings, bucket, s3):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    analyst, _, lead, _, queue = make_team()
    txs = make_cases(queue, 3, outcome="approve", neighbour_fraud_share=0.0, prefix="imp")
    label(analyst, txs[1], "legitimate")  # already so: unchanged
    label(analyst, txs[2], "fraud")
    labels_export_pending()  # exported: the import's flip waits for a second lead

    result = labels_import(
        actor=lead, rows=labels_import_parse(FILE), justification="Chargebacks of October",
        source_name="chargebacks.csv",
    )  # fmt: skip

    assert (result.imported, result.unchanged, result.held) == (2, 1, 1)
    version = LabelVersion.objects.get(transaction=txs[0])
    assert (version.source, version.why, version.status, version.analyst) == (
        LabelSource.IMPORT, "import", "pending", lead,
    )  # fmt: skip
    assert version.decided_at.isoformat() == "2026-10-01T10:00:00+00:00"
    assert version.reason_codes == ["card-compromised"]
    assert version.import_note == "Chargebacks of October (file chargebacks.csv)"
    flip = LabelVersion.objects.get(transaction=txs[2], version=2)
    assert (flip.status, flip.hold_reason) == ("held", HoldReason.FLIP_OF_EXPORTED)
    event = AuditEvent.objects.get(action=AuditAction.LABELS_IMPORTED)
    assert event.actor_id == lead.pk
    assert event.after == {
        "file": "chargebacks.csv", "justification": "Chargebacks of October", "rows": 3,
        "imported": 2, "unchanged": 1, "held": 1,
    }  # fmt: skip
    labelled = AuditEvent.objects.filter(action=AuditAction.TRANSACTION_LABELLED, actor=lead)
    assert labelled.count() == 2
    labels_export_pending()
    rows = {
        row["transaction_id"]: row
        for row in all_rows(s3, bucket)
        if row["label_version"] == 1 and row["transaction_id"] == "imp_tx_0"
    }
    assert rows["imp_tx_0"]["source"] == "import"
    assert rows["imp_tx_0"]["why"] == "import"


def test_an_analyst_may_not_import_and_a_bad_file_imports_nothing():
    analyst, _, lead, _, queue = make_team()
    make_cases(queue, 3, outcome="approve", neighbour_fraud_share=0.0, prefix="imp")

    with pytest.raises(ActionNotPermitted):
        labels_import(
            actor=analyst, rows=labels_import_parse(FILE), justification="x", source_name="f"
        )
    with pytest.raises(InvalidInput, match="unknown transaction"):
        labels_import(
            actor=lead, rows=labels_import_parse(FILE + "nope,fraud,,\n"), justification="x",
            source_name="f",
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="justification"):
        labels_import(
            actor=lead, rows=labels_import_parse(FILE), justification=" ", source_name="f"
        )
    with pytest.raises(InvalidInput, match="line 2: label 'maybe'"):
        labels_import_parse("transaction_id,label\nimp_tx_0,maybe\n")

    assert not LabelVersion.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.LABELS_IMPORTED).exists()


def test_the_command_needs_a_justification_and_a_lead(tmp_path):
    _, _, lead, _, queue = make_team()
    make_cases(queue, 3, outcome="approve", neighbour_fraud_share=0.0, prefix="imp")
    path = tmp_path / "labels.csv"
    path.write_text(FILE)

    with pytest.raises(CommandError):
        call_command("import_labels", str(path), "--as", lead.username)  # no justification
    call_command(
        "import_labels", str(path), "--justification", "Confirmed fraud reports", "--as", "lea"
    )

    assert LabelVersion.objects.filter(source=LabelSource.IMPORT).count() == 3
