"""Converting amounts to the reporting currency (FRAUDCASE_REPORTING_CURRENCY).

A RateBook holds the rates of some currencies and answers, for an amount on a day, what it is
in the reporting currency: the amount itself in that currency; else the newest rate on or
before the day of the pair (currency, reporting), of its inverse, or through one other
currency (1 JPY = 0.0065 USD and 1 USD = 0.92 EUR give JPY in EUR). No such rate:
None, and the caller flags the amount as unconverted instead of guessing.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.db.models import Q

from cases.currency.models import ExchangeRate

CENT = Decimal("0.01")


def reporting_currency() -> str:
    return settings.FRAUDCASE_REPORTING_CURRENCY


class RateBook:
    """Rates of a set of currencies, by pair, each sorted by date (pure once loaded)."""

    def __init__(self, rates: Iterable[tuple[str, str, date, Decimal]], reporting: str) -> None:
        self.reporting = reporting
        by_pair: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
        for currency, quote, valid_from, rate in rates:
            by_pair.setdefault((currency, quote), []).append((valid_from, Decimal(rate)))
        self._dates = {pair: [d for d, _ in sorted(rows)] for pair, rows in by_pair.items()}
        self._rates = {pair: [r for _, r in sorted(rows)] for pair, rows in by_pair.items()}
        # Which currencies each one has a rate with, either way round.
        self._neighbours: dict[str, set[str]] = {}
        for currency, quote in by_pair:
            self._neighbours.setdefault(currency, set()).add(quote)
            self._neighbours.setdefault(quote, set()).add(currency)

    @classmethod
    def load(cls, currencies: Iterable[str], reporting: str | None = None) -> RateBook:
        """The rates that can convert these currencies, directly or through one other (two
        small queries; not the whole history of every pair)."""
        reporting = reporting or reporting_currency()
        wanted = set(currencies) | {reporting}
        columns = ("currency", "quote_currency", "valid_from", "rate")
        near = Q(currency__in=wanted) | Q(quote_currency__in=wanted)
        rows = list(ExchangeRate.objects.filter(near).values_list(*columns))
        thirds = {c for c, q, _, _ in rows for c in (c, q)} - wanted
        if thirds:  # the second step: those currencies against the reporting one
            rows += (
                ExchangeRate.objects.filter(
                    Q(currency__in=thirds, quote_currency=reporting)
                    | Q(currency=reporting, quote_currency__in=thirds)
                )
                .exclude(near)
                .values_list(*columns)
            )
        return cls(rows, reporting)

    def _rate_on(self, pair: tuple[str, str], day: date) -> Decimal | None:
        dates = self._dates.get(pair)
        if not dates:
            return None
        index = bisect.bisect_right(dates, day) - 1
        return self._rates[pair][index] if index >= 0 else None

    def _one_step(self, currency: str, day: date) -> Decimal | None:
        """Reporting-currency units per unit, from a rate of the pair either way round."""
        if currency == self.reporting:
            return Decimal(1)
        direct = self._rate_on((currency, self.reporting), day)
        if direct is not None:
            return direct
        inverse = self._rate_on((self.reporting, currency), day)
        return None if inverse is None else 1 / inverse

    def rate(self, currency: str, day: date) -> Decimal | None:
        """Reporting-currency units per unit of currency on day; None when unknown."""
        found = self._one_step(currency, day)
        if found is not None:
            return found
        for third in sorted(self._neighbours.get(currency, set())):
            step = self._rate_on((currency, third), day)
            if step is None:
                back = self._rate_on((third, currency), day)
                step = None if back is None else 1 / back
            onward = self._one_step(third, day) if step is not None else None
            if onward is not None:
                return step * onward
        return None

    def convert(self, amount: Decimal, currency: str, when: date | datetime) -> Decimal | None:
        """amount in the reporting currency, to the cent; None when no rate covers the day."""
        day = when.date() if isinstance(when, datetime) else when
        rate = self.rate(currency, day)
        if rate is None:
            return None
        return (Decimal(amount) * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
