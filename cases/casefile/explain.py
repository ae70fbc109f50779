"""Why was a transaction flagged: its features against the account's own history and against
the population.

- Account baseline: the account's other transactions (at most the latest
  ACCOUNT_HISTORY_LIMIT of the case page): median, minimum and maximum of each feature.
  Deviation = (value - median) / (maximum - minimum); none with fewer than two other values or
  when they are all equal.
- Population baseline: the POPULATION_SAMPLE most recent transactions that carry features
  (a bounded sample, read newest first along the primary key), with p5, median and p95 of each
  feature computed in SQL by percentile_cont over the jsonb values. Deviation =
  (value - median) / (p95 - p5); none when p95 equals p5. Cached for ten minutes.
- Ranking: features whose larger absolute deviation is biggest come first (ties by name);
  features with no measurable deviation come last.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from cases.models import Transaction

POPULATION_SAMPLE = 20_000
POPULATION_CACHE_SECONDS = 600

_POPULATION_SQL = """
WITH sample AS (
    SELECT features FROM {table}
    WHERE features IS NOT NULL AND jsonb_typeof(features) = 'object'
    ORDER BY id DESC
    LIMIT %(sample)s
)
SELECT kv.key,
       percentile_cont(ARRAY[0.05, 0.5, 0.95]) WITHIN GROUP (ORDER BY (kv.value)::float8),
       count(*)
FROM sample, jsonb_each(sample.features) AS kv(key, value)
WHERE jsonb_typeof(kv.value) = 'number'
GROUP BY kv.key
"""


@dataclass(frozen=True)
class PopulationStats:
    p5: float
    median: float
    p95: float
    count: int


@dataclass
class FeatureDeviation:
    name: str
    value: float
    account_count: int = 0
    account_median: float | None = None
    account_min: float | None = None
    account_max: float | None = None
    account_deviation: float | None = None
    population: PopulationStats | None = None
    population_deviation: float | None = None

    @property
    def account_unusual(self) -> bool:
        return self.account_deviation is not None and abs(self.account_deviation) >= 1

    @property
    def population_unusual(self) -> bool:
        return self.population_deviation is not None and abs(self.population_deviation) >= 1

    @property
    def rank(self) -> float:
        measured = [
            abs(d) for d in (self.account_deviation, self.population_deviation) if d is not None
        ]
        return max(measured) if measured else -1.0


@dataclass
class Explanation:
    transaction: Transaction
    features: list[FeatureDeviation]
    account_history: int  # how many of the account's other transactions were compared

    @property
    def top(self) -> FeatureDeviation | None:
        return self.features[0] if self.features and self.features[0].rank >= 0 else None


def population_feature_stats(*, sample: int = POPULATION_SAMPLE) -> dict[str, PopulationStats]:
    """p5, median and p95 of every numeric feature over the latest `sample` transactions.

    Cached for POPULATION_CACHE_SECONDS: a baseline over this many transactions barely moves
    in minutes, and computing it (a few hundred ms on a big table) should not be every view's.
    An empty result (no features yet) is not cached.
    """
    key = f"fraudcase:population-features:{connection.settings_dict['NAME']}:{sample}"
    stats = cache.get(key)
    if stats is None:
        with connection.cursor() as cursor:
            cursor.execute(
                _POPULATION_SQL.format(table=Transaction._meta.db_table), {"sample": sample}
            )
            stats = {
                name: PopulationStats(p5=qs[0], median=qs[1], p95=qs[2], count=count)
                for name, qs, count in cursor.fetchall()
            }
        if stats:
            cache.set(key, stats, POPULATION_CACHE_SECONDS)
    return stats


def numeric_features(features) -> dict[str, float]:
    """The finite numbers of a features object (booleans and other values are left out)."""
    if not isinstance(features, dict):
        return {}
    return {
        str(name): float(value)
        for name, value in features.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


def explain_transactions(
    transactions: list[Transaction],
    account_rows: list[dict],
    population: dict[str, PopulationStats],
) -> list[Explanation]:
    """One explanation per transaction, in the order given; features ranked as described
    at the top of this module. account_rows: the account's transactions (id and features)."""
    # Per feature, the account's values sorted, and each transaction's own value, so a
    # baseline without the transaction itself is found in O(1) rather than by copying.
    sorted_values: dict[str, list[float]] = {}
    own_values: dict[int, dict[str, float]] = {}
    for row in account_rows:
        values = numeric_features(row["features"])
        own_values[row["id"]] = values
        for name, value in values.items():
            sorted_values.setdefault(name, []).append(value)
    for values in sorted_values.values():
        values.sort()
    in_history = set(own_values)

    explanations = []
    for tx in transactions:
        values = numeric_features(tx.features)
        features = []
        for name, value in values.items():
            deviation = FeatureDeviation(name=name, value=value)
            history = sorted_values.get(name, [])
            # Leave the transaction's own value out of its account's baseline.
            skip = (
                bisect_left(history, own_values[tx.pk][name])
                if tx.pk in in_history and name in own_values[tx.pk]
                else None
            )
            _fill_account(deviation, history, skip)
            stats = population.get(name)
            if stats is not None:
                deviation.population = stats
                spread = stats.p95 - stats.p5
                if spread > 0:
                    deviation.population_deviation = (value - stats.median) / spread
            features.append(deviation)
        features.sort(key=lambda f: (-f.rank, f.name))
        others = len(account_rows) - (1 if tx.pk in in_history else 0)
        explanations.append(Explanation(transaction=tx, features=features, account_history=others))
    return explanations


def _fill_account(deviation: FeatureDeviation, history: list[float], skip: int | None) -> None:
    count = len(history) - (1 if skip is not None else 0)
    deviation.account_count = count
    if count == 0:
        return

    def at(index: int) -> float:  # the index-th value of history without the skipped one
        return history[index if skip is None or index < skip else index + 1]

    middle = count // 2
    median = at(middle) if count % 2 else (at(middle - 1) + at(middle)) / 2
    low, high = at(0), at(count - 1)
    deviation.account_median, deviation.account_min, deviation.account_max = median, low, high
    if count >= 2 and high > low:
        deviation.account_deviation = (deviation.value - median) / (high - low)
