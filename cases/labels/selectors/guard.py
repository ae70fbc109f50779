"""The label guard's reading: is an analyst's share of labels against the model well above
the team's? (Read by cases.labels.services.versions when a label is recorded.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from cases.models import LabelSource, LabelStatus, LabelVersion


@dataclass(frozen=True)
class GuardReading:
    """What the label guard saw when it held a label (recorded in the LABEL_HELD event)."""

    contradicting: int
    labels: int
    share: float
    team_share: float
    team_labels: int

    def as_dict(self) -> dict:
        return {
            "contradicting": self.contradicting, "labels": self.labels,
            "share": round(self.share, 4), "team_share": round(self.team_share, 4),
            "team_labels": self.team_labels,
        }  # fmt: skip


def team_contradiction_share(analyst, now: datetime) -> tuple[float, int]:
    """The other analysts' share of contradicting labels over the baseline, and their count;
    the prior share while they have too few. Imports and labels a lead stopped don't count."""
    since = now - timedelta(days=settings.FRAUDCASE_LABEL_GUARD_BASELINE_DAYS)
    counts = (
        LabelVersion.objects.filter(decided_at__gte=since, decided_at__lte=now)
        .exclude(analyst=analyst)
        .exclude(source=LabelSource.IMPORT)
        .exclude(status__in=(LabelStatus.HELD, LabelStatus.REJECTED, LabelStatus.QUARANTINED))
        .aggregate(labels=Count("id"), contradicting=Count("id", filter=Q(contradicts_model=True)))
    )
    if counts["labels"] < settings.FRAUDCASE_LABEL_GUARD_TEAM_MIN_LABELS:
        return settings.FRAUDCASE_LABEL_GUARD_PRIOR_SHARE, counts["labels"]
    return counts["contradicting"] / counts["labels"], counts["labels"]


def contradiction_burst(analyst, now: datetime) -> GuardReading | None:
    """A reading when the analyst's labels against the model, in the window, are both many
    (at least FRAUDCASE_LABEL_BURST_THRESHOLD) and a share well above the team's (by
    FRAUDCASE_LABEL_GUARD_MARGIN); else None.

    Judged by share, not speed: an analyst labelling 500 cases an hour, a third of them the
    detector's misses, is not held; one flipping 50 labels against the model is. now and every
    decided_at are the database's clock (cases.clock), so labels saved through different hosts
    fall in one window.
    """
    if analyst is None:
        return None
    since = now - timedelta(minutes=settings.FRAUDCASE_LABEL_BURST_WINDOW_MINUTES)
    mine = LabelVersion.objects.filter(analyst=analyst, decided_at__gte=since).exclude(
        source=LabelSource.IMPORT
    )
    contradicting = mine.filter(contradicts_model=True).count()  # the partial index
    if contradicting < settings.FRAUDCASE_LABEL_BURST_THRESHOLD:
        return None
    labels = mine.count()
    share = contradicting / labels
    team_share, team_labels = team_contradiction_share(analyst, now)
    if share < team_share + settings.FRAUDCASE_LABEL_GUARD_MARGIN:
        return None
    return GuardReading(contradicting, labels, share, team_share, team_labels)
