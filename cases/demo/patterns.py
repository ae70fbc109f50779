"""The planted fraud: account takeover, card testing and mule rings.

Each function returns rows until it has produced at least `quota` of them, every row marked
with its `_pattern` (the generator's truth, never written to files).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np

from cases.demo.population import (
    Account,
    World,
    any_time,
    country,
    hex_id,
    local_amount,
    night_time,
    transaction,
    weighted_choice,
)
from cases.demo.world import TAKEOVER_COUNTRIES

TAKEOVER_TARGETS = {
    "electronics": 0.35,
    "gift_cards": 0.3,
    "crypto": 0.15,
    "money_transfer": 0.1,
    "digital_goods": 0.1,
}
# Card testers rent servers and proxies where hosting is cheap and plentiful.
CARD_TESTING_COUNTRIES = {
    "US": 3.0,
    "NL": 2.0,
    "DE": 1.0,
    "GB": 1.0,
    "FR": 1.0,
    "CA": 1.0,
    "SG": 1.0,
}
CARD_TESTING_TARGETS = {"digital_goods": 0.5, "misc_retail": 0.3, "telecom": 0.2}


def account_takeovers(rng: np.random.Generator, world: World, victims: list[Account], quota: int):
    """A victim's account suddenly used at night from a new country, device and IP."""
    rows: list[dict] = []
    while len(rows) < quota:
        victim = victims[int(rng.integers(len(victims)))]
        attacker_code = victim.home.code
        while attacker_code == victim.home.code:
            attacker_code = weighted_choice(rng, TAKEOVER_COUNTRIES)
        attacker = country(attacker_code)
        device = hex_id(rng, "dev_")
        ip = world.ip_pool.draw(attacker.code, rng, ipv6_share=0.02)
        moment = night_time(rng, world, victim.home, margin_hours=4)
        for _ in range(int(rng.integers(2, 7))):
            type_key = weighted_choice(rng, TAKEOVER_TARGETS)
            amount_eur = max(
                float(rng.lognormal(np.log(520.0), 0.5)), 6.0 * 30.0 * victim.spend_scale
            )
            rows.append(
                transaction(
                    account_id=victim.account_id,
                    occurred_at=moment,
                    amount=local_amount(amount_eur, attacker),
                    country=attacker,
                    merchant_type=type_key,
                    merchant=world.merchant(type_key, rng),
                    channel="transfer" if type_key == "money_transfer" else "ecommerce",
                    source_ip=ip,
                    device_id=device,
                    pattern="account_takeover",
                )
            )
            moment += timedelta(minutes=float(rng.uniform(3, 40)))
    return rows


def card_testing(rng: np.random.Generator, world: World, victims: list[Account], quota: int):
    """Bursts of tiny charges, seconds apart, on stolen cards at one to three web shops."""
    rows: list[dict] = []
    while len(rows) < quota:
        origin = country(weighted_choice(rng, CARD_TESTING_COUNTRIES))
        ip = world.ip_pool.draw(origin.code, rng, ipv6_share=0.0)
        device = hex_id(rng, "dev_") if rng.random() < 0.6 else None
        shops = []
        for _ in range(int(rng.integers(1, 4))):
            type_key = weighted_choice(rng, CARD_TESTING_TARGETS)
            shops.append((type_key, world.merchant(type_key, rng)))
        moment = any_time(rng, world, margin_hours=1)
        for _ in range(int(rng.integers(5, 31))):
            type_key, shop = shops[int(rng.integers(len(shops)))]
            card = victims[int(rng.integers(len(victims)))]
            rows.append(
                transaction(
                    account_id=card.account_id,
                    occurred_at=moment,
                    amount=Decimal(f"{rng.uniform(0.5, 2.0):.2f}"),
                    country=origin,
                    merchant_type=type_key,
                    merchant=shop,
                    channel="ecommerce",
                    source_ip=ip,
                    device_id=device,
                    pattern="card_testing",
                )
            )
            moment += timedelta(seconds=float(rng.uniform(4, 75)))
    return rows


def mule_rings(rng: np.random.Generator, world: World, members_pool: list[Account], quota: int):
    """Four to ten accounts sharing a few IPs and devices, moving money by transfer."""
    rows: list[dict] = []
    pool = list(members_pool)
    while len(rows) < quota and len(pool) >= 4:
        size = min(len(pool), int(rng.integers(4, 11)))
        first = pool[int(rng.integers(len(pool)))]
        # Mules are recruited locally: prefer accounts from the first member's country.
        same_country = [account for account in pool if account.home is first.home]
        others = [account for account in pool if account.home is not first.home]
        order = rng.permutation(len(others))
        members = (same_country + [others[i] for i in order])[:size]
        pool = [account for account in pool if account not in members]

        ring_country = first.home
        ips = [
            world.ip_pool.draw(ring_country.code, rng, ipv6_share=0.05)
            for _ in range(int(rng.integers(1, 4)))
        ]
        devices = [hex_id(rng, "dev_") for _ in range(int(rng.integers(1, 4)))]
        services = [world.merchant("money_transfer", rng) for _ in range(2)]
        window_start = any_time(rng, world, margin_hours=24 * 7)
        window_seconds = float(rng.uniform(2, 7)) * 86400
        for member in members:
            for _ in range(int(rng.integers(2, 7))):
                moment = window_start + timedelta(seconds=float(rng.uniform(0, window_seconds)))
                if moment >= world.end:
                    moment = world.end - timedelta(minutes=float(rng.uniform(1, 600)))
                amount_eur = float(rng.lognormal(np.log(900.0), 0.6))
                rows.append(
                    transaction(
                        account_id=member.account_id,
                        occurred_at=moment.replace(microsecond=0),
                        amount=local_amount(
                            amount_eur, ring_country, round_to=5.0 if rng.random() < 0.6 else 0.0
                        ),
                        country=ring_country,
                        merchant_type="money_transfer",
                        merchant=services[int(rng.integers(len(services)))],
                        channel="transfer",
                        source_ip=ips[int(rng.integers(len(ips)))],
                        device_id=devices[int(rng.integers(len(devices)))],
                        pattern="mule_ring",
                    )
                )
    return rows
