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
- Enough of a baseline: a deviation is computed only against at least
  FRAUDCASE_EXPLAIN_MIN_BASELINE values (default 5) of the account, or of the population;
  with fewer the page says there is too little history rather than show a number.
- In words: each feature is named from the feature dictionary (cases/casefile/
  feature_dictionary.py), and features with |deviation| >= 1 become sentences.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from cases.casefile.feature_dictionary import FeatureEntry, feature_dictionary
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
    entry: FeatureEntry | None = None  # from the feature dictionary; None: not described there

    @property
    def label(self) -> str:
        """What analysts call the feature ("time of day"), or its key if not in the dictionary."""
        return self.entry.name if self.entry else self.name

    @property
    def sentence(self) -> str:
        """The feature's unusual deviations in words; "" when none is unusual."""
        parts = []
        if self.account_unusual:
            parts.append(
                f"{self._words(self.account_deviation)} than this account's usual (median "
                f"{self.account_median:.3g}, {self.account_min:.3g} to {self.account_max:.3g} "
                f"over {self.account_count} transactions)"
            )
        if self.population_unusual:
            stats = self.population
            parts.append(
                f"{self._words(self.population_deviation)} than most transactions (median "
                f"{stats.median:.3g}, p5 to p95 {stats.p5:.3g} to {stats.p95:.3g})"
            )
        if not parts:
            return ""
        label = self.label[:1].upper() + self.label[1:]
        # "Name: value, ..." rather than "Name is ...": names are singular and plural alike.
        return f"{label}: {self.value:.3g}, " + ", and ".join(parts) + "."

    def _words(self, deviation: float) -> str:
        higher, lower = (self.entry.higher, self.entry.lower) if self.entry else ("higher", "lower")
        return ("far " if abs(deviation) >= 2 else "") + (higher if deviation > 0 else lower)

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


SENTENCES_SHOWN = 3


@dataclass
class Explanation:
    transaction: Transaction
    features: list[FeatureDeviation]
    account_history: int  # how many of the account's other transactions were compared
    min_baseline: int = 5
    # The nearest labelled transactions of other cases that are fraud (cases.casefile.neighbours)
    nearest_frauds: list = field(default_factory=list)
    nearest_labelled: int = 0  # how many labelled neighbours were looked at
    nearest_fraud_count: int = 0  # of those, labelled fraud
    nearest_hidden: int = 0

    @property
    def top(self) -> FeatureDeviation | None:
        return self.features[0] if self.features and self.features[0].rank >= 0 else None

    @property
    def baseline_enough(self) -> bool:
        return self.account_history >= self.min_baseline

    @property
    def sentences(self) -> list[str]:
        """The most unusual features in words, biggest deviation first (at most three)."""
        said = [feature.sentence for feature in self.features if feature.sentence]
        return said[:SENTENCES_SHOWN]


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
    minimum = settings.FRAUDCASE_EXPLAIN_MIN_BASELINE
    words = feature_dictionary()

    explanations = []
    for tx in transactions:
        values = numeric_features(tx.features)
        features = []
        for name, value in values.items():
            deviation = FeatureDeviation(name=name, value=value, entry=words.get(name))
            history = sorted_values.get(name, [])
            # Leave the transaction's own value out of its account's baseline.
            skip = (
                bisect_left(history, own_values[tx.pk][name])
                if tx.pk in in_history and name in own_values[tx.pk]
                else None
            )
            _fill_account(deviation, history, skip, minimum)
            stats = population.get(name)
            if stats is not None:
                deviation.population = stats
                spread = stats.p95 - stats.p5
                if spread > 0 and stats.count >= minimum:
                    deviation.population_deviation = (value - stats.median) / spread
            features.append(deviation)
        features.sort(key=lambda f: (-f.rank, f.name))
        others = len(account_rows) - (1 if tx.pk in in_history else 0)
        explanations.append(
            Explanation(
                transaction=tx, features=features, account_history=others, min_baseline=minimum
            )
        )
    return explanations


def _fill_account(
    deviation: FeatureDeviation, history: list[float], skip: int | None, minimum: int
) -> None:
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
    if count >= max(2, minimum) and high > low:
        deviation.account_deviation = (deviation.value - median) / (high - low)
