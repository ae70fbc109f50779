"""The demo's population: account holders, merchants and the helpers that turn a purchase
into a transaction row. Fraud patterns and everyday spending both draw from one `World`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np

from cases.demo.embedding import AccountProfile
from cases.demo.ips import IpPool, build_ip_pool
from cases.demo.world import (
    COUNTRIES,
    COUNTRY_BY_CODE,
    HOURLY_RHYTHM,
    MERCHANT_TYPE_BY_KEY,
    MERCHANT_TYPES,
    NAME_ADJECTIVES,
    NAME_NOUNS,
    NAME_SINGLES,
    Country,
    MerchantType,
)

TYPICAL_BASKET_EUR = 30.0


@dataclass
class Account:
    account_id: str
    home: Country
    devices: list[str]
    ips: list[str]
    spend_scale: float  # multiplies every merchant type's typical amount
    type_cumulative: np.ndarray  # cumulative preference over MERCHANT_TYPES
    activity: float  # relative number of transactions

    @property
    def profile(self) -> AccountProfile:
        return AccountProfile(
            home_country=self.home.code,
            devices=tuple(self.devices),
            ips=tuple(self.ips),
            median_amount_eur=TYPICAL_BASKET_EUR * self.spend_scale,
        )


@dataclass
class World:
    accounts: list[Account]
    merchants: dict[str, list[str]]  # merchant type key -> names, most popular first
    popularity: dict[str, list[float]]  # merchant type key -> cumulative popularity
    ip_pool: IpPool
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def merchant(self, type_key: str, rng: np.random.Generator) -> str:
        names = self.merchants[type_key]
        position = bisect_right(self.popularity[type_key], rng.random())
        return names[min(position, len(names) - 1)]

    def profiles(self) -> dict[str, AccountProfile]:
        return {account.account_id: account.profile for account in self.accounts}


def build_world(
    rng: np.random.Generator,
    *,
    seed: int,
    accounts: int,
    merchants: int,
    start: datetime,
    end: datetime,
) -> World:
    pool = build_ip_pool(seed)
    return World(
        accounts=_build_accounts(rng, accounts, pool),
        merchants=(names := _build_merchants(rng, merchants)),
        popularity={key: _zipf_cumulative(len(values)) for key, values in names.items()},
        ip_pool=pool,
        start=start,
        end=end,
    )


def _build_accounts(rng: np.random.Generator, count: int, pool: IpPool) -> list[Account]:
    weights = np.array([country.weight for country in COUNTRIES])
    homes = rng.choice(len(COUNTRIES), size=count, p=weights / weights.sum())
    base_spend = np.array([merchant_type.spend for merchant_type in MERCHANT_TYPES])
    accounts = []
    for number, home_index in enumerate(homes, start=1):
        home = COUNTRIES[home_index]
        preferences = rng.dirichlet(base_spend / base_spend.sum() * 25.0)
        devices = [hex_id(rng, "dev_") for _ in range(1 if rng.random() < 0.7 else 2)]
        ips = [pool.draw(home.code, rng) for _ in range(int(rng.integers(1, 4)))]
        accounts.append(
            Account(
                account_id=f"acc_{number:06d}",
                home=home,
                devices=devices,
                ips=ips,
                spend_scale=float(rng.lognormal(0.0, 0.45)),
                type_cumulative=np.cumsum(preferences),
                activity=float(rng.lognormal(0.0, 0.8)),
            )
        )
    return accounts


def _build_merchants(rng: np.random.Generator, count: int) -> dict[str, list[str]]:
    weights = np.array([merchant_type.weight for merchant_type in MERCHANT_TYPES])
    # Every type gets at least two merchants, so every pattern can find its shops.
    counts = np.maximum(2, np.round(weights / weights.sum() * count)).astype(int)
    prefixes = [f"{adjective} {noun}" for adjective in NAME_ADJECTIVES for noun in NAME_NOUNS]
    prefixes += list(NAME_SINGLES)
    used: set[str] = set()
    merchants: dict[str, list[str]] = {}
    for merchant_type, wanted in zip(MERCHANT_TYPES, counts, strict=True):
        names = merchants.setdefault(merchant_type.key, [])
        while len(names) < wanted:
            prefix = prefixes[int(rng.integers(len(prefixes)))]
            noun = merchant_type.nouns[int(rng.integers(len(merchant_type.nouns)))]
            name = f"{prefix} {noun}"
            if name in used:
                name = f"{name} {int(rng.integers(2, 99))}"
            if name not in used:
                used.add(name)
                names.append(name)
    return merchants


def _zipf_cumulative(size: int) -> list[float]:
    weights = 1.0 / np.arange(1, size + 1) ** 0.8
    return np.cumsum(weights / weights.sum()).tolist()


def hex_id(rng: np.random.Generator, prefix: str, length: int = 12) -> str:
    return prefix + rng.bytes(length // 2).hex()


def local_amount(amount_eur: float, country: Country, *, round_to: float = 0.0) -> Decimal:
    """Convert a euro amount into the country's currency, two decimals (or a round figure)."""
    local = amount_eur * country.eur_rate
    if round_to:
        step = round_to * 10 ** max(0, math.floor(math.log10(max(local, 1.0))) - 1)
        local = max(step, round(local / step) * step)
    return Decimal(f"{local:.2f}")


def night_time(rng: np.random.Generator, world: World, country: Country, *, margin_hours: float):
    """A moment between midnight and 5 am local time, at least `margin_hours` before the end."""
    days = max(1, int(world.seconds // 86400))
    for _ in range(50):
        day = world.start.replace(hour=0, minute=0, second=0) + timedelta(
            days=int(rng.integers(days))
        )
        local_hour = rng.uniform(0.0, 5.0)
        moment = day + timedelta(hours=local_hour - country.utc_offset)
        if world.start <= moment <= world.end - timedelta(hours=margin_hours):
            return moment.replace(microsecond=0)
    return world.start


def any_time(rng: np.random.Generator, world: World, *, margin_hours: float = 0.0) -> datetime:
    span = max(1.0, world.seconds - margin_hours * 3600)
    return (world.start + timedelta(seconds=float(rng.uniform(0, span)))).replace(microsecond=0)


def rhythm_offsets(rng: np.random.Generator, size: int, utc_offsets: np.ndarray, days: int):
    """Seconds since the start for `size` moments that follow the daily rhythm locally."""
    rhythm = np.asarray(HOURLY_RHYTHM)
    hours = rng.choice(24, size=size, p=rhythm / rhythm.sum()) + rng.random(size)
    day = rng.integers(0, days, size=size)
    period = days * 86400.0
    return np.floor((day * 86400.0 + (hours - utc_offsets) * 3600.0) % period)


def transaction(
    *,
    account_id: str,
    occurred_at: datetime,
    amount: Decimal,
    country: Country,
    merchant_type: MerchantType | str,
    merchant: str,
    channel: str,
    source_ip: str | None,
    device_id: str | None,
    pattern: str,
) -> dict:
    """A row in contract order (ids, score and embedding are filled in later)."""
    if isinstance(merchant_type, str):
        merchant_type = MERCHANT_TYPE_BY_KEY[merchant_type]
    return {
        "transaction_id": None,
        "account_id": account_id,
        "occurred_at": occurred_at.astimezone(UTC),
        "amount": amount,
        "currency": country.currency,
        "merchant": merchant,
        "merchant_category": merchant_type.mcc,
        "channel": channel,
        "country": country.code,
        "source_ip": source_ip,
        "device_id": device_id,
        "_pattern": pattern,
    }


def country(code: str) -> Country:
    return COUNTRY_BY_CODE[code]


def weighted_choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    return pick(rng.random(), weights)


def pick(draw: float, weights: dict[str, float]) -> str:
    """The key whose cumulative weight band contains `draw` (a uniform number in [0, 1))."""
    keys, cumulative = _cumulative(tuple(weights.items()))
    return keys[min(bisect_right(cumulative, draw), len(keys) - 1)]


@lru_cache(maxsize=256)
def _cumulative(items: tuple[tuple[str, float], ...]) -> tuple[tuple[str, ...], list[float]]:
    keys = tuple(key for key, _ in items)
    weights = np.array([weight for _, weight in items], dtype=float)
    return keys, np.cumsum(weights / weights.sum()).tolist()
