"""The drift checker: each new ingest batch and each finished day, once, against the days
before it; measures past their thresholds become DriftAlert rows and one drift.detected
webhook event, in the same transaction as the check's own record (so a retry adds nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.common.ranges import DayRange
from analytics.drift.selectors import DriftUnit, drift
from analytics.models import BatchRollup, DriftAlert, DriftCheck, DriftScope
from cases.models import IngestRun, WebhookEventType
from cases.webhooks.services import webhook_event_record

# Days not yet finished may still receive transactions; batches are judged once finished.
RECENT_RUNS = 200  # the most recent finished runs the checker looks at each time
DAYS_BACK = 14  # the finished days the checker looks at each time


@dataclass(frozen=True)
class Thresholds:
    psi: float
    share_points: float
    centroid: float
    min_rows: int

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            psi=settings.FRAUDCASE_DRIFT_PSI_THRESHOLD,
            share_points=settings.FRAUDCASE_DRIFT_SHARE_THRESHOLD,
            centroid=settings.FRAUDCASE_DRIFT_CENTROID_THRESHOLD,
            min_rows=settings.FRAUDCASE_DRIFT_MIN_ROWS,
        )


def flagged_measures(
    unit: DriftUnit, thresholds: Thresholds
) -> list[tuple[str, str, float, float]]:
    """(measure, subject, value, threshold) of each measure past its threshold."""
    if unit.transactions < thresholds.min_rows:
        return []
    flagged = [
        ("psi", subject, value, thresholds.psi)
        for subject, value in sorted(unit.psi.items())
        if value is not None and value > thresholds.psi
    ]
    flagged += [
        (
            "share_change",
            f"{dimension}:{value or '(blank)'}",
            100 * (now - before),
            thresholds.share_points,
        )
        for dimension, value, before, now in unit.share_changes
        if abs(100 * (now - before)) > thresholds.share_points
    ]
    if unit.centroid_shift is not None and unit.centroid_shift > thresholds.centroid:
        flagged.append(("centroid_shift", "embedding", unit.centroid_shift, thresholds.centroid))
    return flagged


def drift_unit_check(*, scope: str, run_id: int | None = None, day: date | None = None) -> int:
    """Judge one batch or day against the FRAUDCASE_DRIFT_REFERENCE_DAYS before its first day,
    once (a second call returns 0 and writes nothing). Returns the alerts written."""
    thresholds = Thresholds.from_settings()
    if scope == DriftScope.BATCH:
        days = BatchRollup.objects.filter(run_id=run_id).values_list("day", flat=True)
        if not days:
            return 0
        span = DayRange(min(days), max(days))
        found = drift(span, span.before(settings.FRAUDCASE_DRIFT_REFERENCE_DAYS), grain="batch",
                      run_ids=[run_id])  # fmt: skip
    else:
        span = DayRange(day, day)
        found = drift(span, span.before(settings.FRAUDCASE_DRIFT_REFERENCE_DAYS), grain="day")
    unit = found.units[0] if found.units else None
    flagged = flagged_measures(unit, thresholds) if unit and found.reference_transactions else []
    try:
        with transaction.atomic():
            DriftCheck.objects.create(scope=scope, run_id=run_id, day=day, alerts=len(flagged))
            DriftAlert.objects.bulk_create([
                DriftAlert(scope=scope, run_id=run_id, day=day, measure=measure, subject=subject[:96],
                           value=value, threshold=threshold, reference_from=found.reference.since,
                           reference_to=found.reference.until)
                for measure, subject, value, threshold in flagged
            ])  # fmt: skip
            if flagged:
                webhook_event_record(type=WebhookEventType.DRIFT_DETECTED, payload={
                    "scope": scope, "ingest_run_id": run_id, "day": day,
                    "first_day": span.since, "last_day": span.until,
                    "reference": {"from": found.reference.since, "to": found.reference.until},
                    "transactions": unit.transactions,
                    "measures": [{"measure": m, "subject": s, "value": round(v, 6), "threshold": t}
                                 for m, s, v, t in flagged],
                })  # fmt: skip
    except IntegrityError:
        return 0  # another checker judged it meanwhile
    return len(flagged)


def drift_check_pending(*, today: date | None = None) -> int:
    """Judge the finished batches and days not judged yet. Returns the alerts written."""
    today = today or timezone.localdate()
    checked_runs = DriftCheck.objects.filter(scope=DriftScope.BATCH).values("run_id")
    runs = (
        IngestRun.objects.filter(status=IngestRun.Status.SUCCEEDED, kind=IngestRun.Kind.FLAGGED,
                                 rows_loaded__gt=0)
        .exclude(pk__in=checked_runs).order_by("-finished_at").values_list("pk", flat=True)[:RECENT_RUNS]
    )  # fmt: skip
    alerts = sum(drift_unit_check(scope=DriftScope.BATCH, run_id=run_id) for run_id in runs)
    checked_days = set(DriftCheck.objects.filter(scope=DriftScope.DAY, day__gte=today - timedelta(days=DAYS_BACK)).values_list("day", flat=True))  # fmt: skip
    days_with_rows = set(
        BatchRollup.objects.filter(day__gte=today - timedelta(days=DAYS_BACK), day__lt=today)
        .values_list("day", flat=True).distinct()
    )  # fmt: skip
    for day in sorted(days_with_rows - checked_days):
        alerts += drift_unit_check(scope=DriftScope.DAY, day=day)
    return alerts
