"""Rollups the dashboards read instead of the transactions table, and drift alerts.

- BatchRollup, CurrencyRollup, FeatureRollup, CategoryRollup: flagged transactions per (ingest run, day),
  added to by ingest in each chunk's own transaction (analytics.rollups.record_chunk), so a
  retried chunk never counts twice. run_id 0 holds transactions that came some other way
  (rebuilt by analytics.rollups.rollups_rebuild).
- LabelFact: one narrow row per labelled transaction (its current label with the detector's
  view), kept by a PostgreSQL trigger on cases_transaction (migration 0001): every path that
  changes a label (services, quarantine, admin, bulk updates) keeps it without a hook.
- LabelDayRollup: label versions per decided day, analyst, label and hold reason, with the
  flips among them, kept by a trigger on cases_labelversion (migration 0003) for the label
  health page.
- CurationSnapshot: the curation page's top IPs and ASNs of a range, refreshed by beat for the
  default range and computed by a worker for a range a user picked (the aggregation over
  every source IP is too slow for a page).
- DriftAlert: a batch or a day whose distribution moved past a threshold.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

# Histogram bins (the same in Python and in SQL; see analytics.rollups).
SCORE_BINS = 20  # the score in [0, 1] in bins of 0.05
FEATURE_LOW, FEATURE_HIGH, FEATURE_STEP = -4.0, 4.0, 0.5  # scaled features
FEATURE_BINS = int((FEATURE_HIGH - FEATURE_LOW) / FEATURE_STEP) + 2  # + under- and overflow
CATEGORY_DIMENSIONS = ("country", "channel", "merchant_category")


class BatchRollup(models.Model):
    """Flagged transactions of one ingest run on one day (by occurred_at) for one model."""

    run_id = models.BigIntegerField(help_text="the ingest run; 0: not from an ingest run")
    day = models.DateField()
    model_version = models.CharField(max_length=64)
    transactions = models.BigIntegerField(default=0)
    score_sum = models.FloatField(default=0)
    approve = models.BigIntegerField(default=0)
    investigate = models.BigIntegerField(default=0)
    block = models.BigIntegerField(default=0)
    no_outcome = models.BigIntegerField(default=0)
    score_histogram = ArrayField(models.BigIntegerField())
    embedding_sum = VectorField(dimensions=settings.FRAUDCASE_EMBEDDING_DIM, null=True)
    embeddings = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run_id", "day", "model_version"], name="batch_rollup_once"
            )
        ]
        indexes = [models.Index(fields=["day"], name="batch_rollup_day_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.day} {self.model_version}"


class CurrencyRollup(models.Model):
    """The amounts of one ingest run's transactions on one day (UTC, TIME_ZONE: the exchange
    rates' day) in one currency, summed as they are: the money dashboard converts each sum at
    read time with the rate of its day (analytics.money.selectors), so a rate loaded later
    applies to every figure, and sums without a rate are shown apart, never guessed."""

    run_id = models.BigIntegerField()
    day = models.DateField()
    currency = models.CharField(max_length=3)
    transactions = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=24, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run_id", "day", "currency"], name="currency_rollup_once"
            )
        ]
        indexes = [models.Index(fields=["day"], name="currency_rollup_day_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.day} {self.currency}"


class FeatureRollup(models.Model):
    """One numeric feature of one ingest run's transactions on one day: count, sums, bins."""

    run_id = models.BigIntegerField()
    day = models.DateField()
    feature = models.CharField(max_length=64)
    values = models.BigIntegerField(default=0)
    total = models.FloatField(default=0)
    squares = models.FloatField(default=0)
    histogram = ArrayField(models.BigIntegerField())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run_id", "day", "feature"], name="feature_rollup_once")
        ]
        indexes = [models.Index(fields=["day"], name="feature_rollup_day_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.day} {self.feature}"


class CategoryRollup(models.Model):
    """How many of one ingest run's transactions on one day had this country, channel or MCC."""

    run_id = models.BigIntegerField()
    day = models.DateField()
    dimension = models.CharField(max_length=24)
    value = models.CharField(max_length=64)
    transactions = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run_id", "day", "dimension", "value"], name="category_rollup_once"
            )
        ]
        indexes = [models.Index(fields=["dimension", "day"], name="category_rollup_day_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.day} {self.dimension}={self.value}"


class LabelFact(models.Model):
    """A labelled transaction's current label and the detector's view (trigger-kept)."""

    transaction_id = models.BigIntegerField(primary_key=True)  # cases_transaction.id
    case_id = models.BigIntegerField()
    account_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    day = models.DateField(help_text="occurred_at's day")
    labelled_at = models.DateTimeField(null=True)
    labelled_by_id = models.BigIntegerField(null=True)
    label = models.CharField(max_length=16)
    model_version = models.CharField(max_length=64)
    score = models.FloatField()
    outcome = models.CharField(max_length=16, blank=True)
    decision = models.CharField(max_length=16, blank=True)
    neighbour_share = models.FloatField(null=True)
    country = models.CharField(max_length=2, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        indexes = [
            models.Index(fields=["model_version", "day"], name="label_fact_model_day_idx"),
            models.Index(fields=["day"], name="label_fact_day_idx"),
            models.Index(fields=["labelled_at"], name="label_fact_labelled_idx"),
        ]

    def __str__(self) -> str:
        return f"transaction {self.transaction_id}: {self.label}"


class LabelDayRollup(models.Model):
    """Label versions decided on one day (TIME_ZONE) by one analyst with one label and hold
    reason, and how many of them flip the label of the version they supersede: the sum of the
    rows of a key. Trigger-kept and append-only (migration 0005): an insert adds a row of +1, a
    delete a row of -1, an update that moves the version (a removed user's analyst_id becoming
    null, a hold reason set after the insert) one of each. No label write locks a row another
    writes (a shared per-day row was a deadlock against the audit chain's lock: issue 14);
    analytics.rollups.label_counters_compact folds each key's rows into one, now and then."""

    day = models.DateField()
    analyst_id = models.BigIntegerField(null=True)
    label = models.CharField(max_length=16)
    hold_reason = models.CharField(max_length=32, blank=True)
    versions = models.BigIntegerField(default=0)
    flips = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="label_day_rollup_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} analyst {self.analyst_id}: {self.versions} {self.label}"


class LabelFactDay(models.Model):
    """How many times the label facts of a day (occurred_at's) were written, inserted or
    removed: the sum of the day's rows. Statement triggers on analytics_labelfact (migrations
    0004, 0005) append a row per statement and day, locking no shared row; a figure over a
    range of days cached with the sum of its days' changes is never served stale.
    analytics.rollups.label_counters_compact folds each day's rows into one (the sum kept)."""

    day = models.DateField(db_index=True)
    changes = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.changes} changes"


class CurationStatus(models.TextChoices):
    READY = "ready", "Ready"
    COMPUTING = "computing", "Computing"
    FAILED = "failed", "Failed"


class CurationKind(models.TextChoices):
    DEFAULT = "default", "The default range (beat)"
    CUSTOM = "custom", "A range a user picked"


class CurationSnapshot(models.Model):
    """The curation page's top IPs and ASNs for one range of days, as computed from the IP
    map's aggregation (a GROUP BY over every source IP of the range: seconds at a million
    transactions): by beat for the default range (analytics.tasks.warm_ip_map), by a worker
    for a range a user picked (analytics.tasks.compute_curation, asked for by the page), so
    the page reads a row instead. The page uses it only while it is fresher than
    FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE and says when it was computed.

    One row per range is also the range's computation: status computing from requested_at
    (one computation per range at a time; one older than FRAUDCASE_CURATION_COMPUTE_SECONDS
    counts as failed), then ready (ips, asns, computed_at, duration_seconds) or failed
    (error). A new computation keeps the last figures and duration until it replaces them."""

    since = models.DateField()
    until = models.DateField()
    kind = models.CharField(
        max_length=8, choices=CurationKind.choices, default=CurationKind.DEFAULT
    )
    status = models.CharField(
        max_length=10, choices=CurationStatus.choices, default=CurationStatus.READY
    )
    computed_at = models.DateTimeField(null=True, blank=True, help_text="of ips and asns")
    requested_at = models.DateTimeField(
        null=True, blank=True, help_text="when the last computation was asked for"
    )
    duration_seconds = models.FloatField(
        null=True, blank=True, help_text="how long the last finished computation took"
    )
    transactions = models.BigIntegerField(
        null=True, blank=True, help_text="the range's flagged volume (rollups) when asked for"
    )
    error = models.TextField(blank=True)
    # [ip, place, ASN, flagged, labelled, fraud, fraud rate, IP page], most flagged first.
    ips = models.JSONField(default=list)
    # [ASN, organisation, IPs, flagged, labelled, fraud, fraud rate], most flagged first.
    asns = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["since", "until"], name="curation_snapshot_once")
        ]
        indexes = [models.Index(fields=["kind", "status"], name="curation_snapshot_kind_idx")]

    def __str__(self) -> str:
        return f"curation {self.since} to {self.until}: {self.status}"


class DriftScope(models.TextChoices):
    BATCH = "batch", "Ingest batch"
    DAY = "day", "Day"


class DriftAlert(models.Model):
    """One measure of a batch or a day past its threshold against the reference before it."""

    scope = models.CharField(max_length=8, choices=DriftScope.choices)
    run_id = models.BigIntegerField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    measure = models.CharField(max_length=24, help_text="psi, share_change or centroid_shift")
    subject = models.CharField(max_length=96, help_text="feature, score, or dimension:value")
    value = models.FloatField()
    threshold = models.FloatField()
    reference_from = models.DateField()
    reference_to = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The checker may look at a batch or day again (a retry): one alert per measure.
            models.UniqueConstraint(
                fields=["scope", "run_id", "day", "measure", "subject"],
                nulls_distinct=False,
                name="drift_alert_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.run_id or self.day}: {self.measure} {self.subject}"


class DriftCheck(models.Model):
    """A batch or day the drift checker has looked at (so it looks once)."""

    scope = models.CharField(max_length=8, choices=DriftScope.choices)
    run_id = models.BigIntegerField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    alerts = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "run_id", "day"], nulls_distinct=False, name="drift_check_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.run_id or self.day} checked"
