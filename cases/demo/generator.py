"""Realistic flagged transactions for the demo, as the upstream detector would emit them.

The generator simulates a whole month of card and transfer traffic (everyday spending plus
planted fraud), scores every transaction against centroids of earlier known fraud, and keeps
what a detector would flag: all of the fraud and the highest-scoring slice of everyday
spending, whose rows become the false positives analysts have to clear.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np

from cases.demo.bundle import demo_files, write_demo_files
from cases.demo.curation import generate_curation_records
from cases.demo.embedding import embed_transactions, reference_vectors, similarity_scores
from cases.demo.patterns import account_takeovers, card_testing, mule_rings
from cases.demo.population import (
    World,
    build_world,
    country,
    hex_id,
    local_amount,
    pick,
    rhythm_offsets,
    transaction,
    weighted_choice,
)
from cases.demo.shadow import SHADOW_MODEL_VERSION, generate_shadow_scores
from cases.demo.world import MERCHANT_TYPES, TRAVEL_COUNTRIES

__all__ = [
    "MODEL_VERSION",
    "PATTERNS",
    "SHADOW_MODEL_VERSION",
    "demo_files",
    "generate_curation_records",
    "generate_flagged_transactions",
    "generate_shadow_scores",
    "write_demo_files",
]

MODEL_VERSION = "detector-2026.11.2"
PREVIOUS_MODEL_VERSION = "detector-2026.10.4"
PATTERNS = ("account_takeover", "card_testing", "mule_ring", "normal")
PATTERN_SHARES = {"account_takeover": 0.36, "card_testing": 0.34, "mule_ring": 0.30}
FRAUD_SHARE = (0.08, 0.12)
# Everyday transactions simulated per flagged one: the detector keeps the riskiest looking.
CANDIDATES_PER_FLAGGED = 2.5
FLAG_TEMPERATURE = 0.05
BLOCK_AT, INVESTIGATE_AT = 0.85, 0.60
KNOWN_FRAUD_ROWS = 150  # per pattern, for the reference centroids
TRAVEL_SHARE, NEW_DEVICE_SHARE, ROAMING_IP_SHARE = 0.03, 0.03, 0.12


def generate_flagged_transactions(
    *,
    seed: int = 7,
    accounts: int = 4000,
    merchants: int = 1500,
    transactions: int = 30000,
    days: int = 30,
    end: datetime | None = None,
    embedding_dim: int = 384,
) -> list[dict]:
    """Flagged transaction rows sorted by occurred_at; deterministic for (seed, end).

    Each row holds the contract columns as Python values plus `_pattern`, the truth about
    which planted pattern produced it ("normal" for the false positives). Fraud comes in
    whole bursts and rings, so below a few hundred transactions its share runs high.
    """
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if transactions <= 0:
        return []
    if accounts < 10 or merchants < 1 or days < 1:
        raise ValueError("the demo needs at least 10 accounts, 1 merchant and 1 day")
    start = end - timedelta(days=days)
    rng = np.random.default_rng(seed)
    world = build_world(
        rng, seed=seed, accounts=accounts, merchants=merchants, start=start, end=end
    )

    fraud = _plant_fraud(rng, world, round(transactions * rng.uniform(*FRAUD_SHARE)))
    fraud = fraud[:transactions]
    normal_needed = transactions - len(fraud)
    everyday = _everyday_spending(rng, world, int(normal_needed * CANDIDATES_PER_FLAGGED), days)
    stream = everyday + fraud

    profiles = world.profiles()
    embeddings, features = embed_transactions(stream, dim=embedding_dim, profiles=profiles)
    references = _known_fraud_references(seed, world, embedding_dim)
    scores = similarity_scores(embeddings, references)

    flagged = _flag(rng, scores[: len(everyday)], normal_needed)
    flagged += list(range(len(everyday), len(stream)))
    flagged.sort(key=lambda index: (stream[index]["occurred_at"], index))

    kept_embeddings = embeddings[flagged]  # a copy, so the full stream can be freed
    switch_at = start + timedelta(days=days * 0.6)
    seen_ids: set[str] = set()
    rows = []
    for position, index in enumerate(flagged):
        row = stream[index]
        score = round(float(scores[index]), 4)
        row["transaction_id"] = _unique_id(rng, seen_ids)
        row["similarity_score"] = score
        row["model_version"] = (
            MODEL_VERSION if row["occurred_at"] >= switch_at else PREVIOUS_MODEL_VERSION
        )
        row["outcome"] = _outcome(rng, score)
        row["embedding"] = kept_embeddings[position]
        row["features"] = features[index]
        row["_pattern"] = row.pop("_pattern")  # keep the truth last, after the contract
        rows.append(row)
    return rows


def _plant_fraud(rng: np.random.Generator, world: World, target: int) -> list[dict]:
    accounts = world.accounts
    order = rng.permutation(len(accounts))
    # Mules come from the quietest accounts; everyone else can be a victim.
    quiet = sorted(order[: max(4, len(accounts) // 4)], key=lambda i: accounts[i].activity)
    mule_pool = [accounts[i] for i in quiet[: max(4, len(accounts) // 10)]]
    mule_ids = {account.account_id for account in mule_pool}
    victims = [account for account in accounts if account.account_id not in mule_ids]

    rows = account_takeovers(
        rng, world, victims, round(target * PATTERN_SHARES["account_takeover"])
    )
    rows += card_testing(rng, world, victims, round(target * PATTERN_SHARES["card_testing"]))
    rows += mule_rings(rng, world, mule_pool, round(target * PATTERN_SHARES["mule_ring"]))
    return rows


def _known_fraud_references(seed: int, world: World, dim: int) -> np.ndarray:
    """Centroids of each pattern as seen in the previous period: the detector's references."""
    rng = np.random.default_rng([seed, 1])
    earlier = dataclasses.replace(
        world, start=world.start - (world.end - world.start), end=world.start
    )
    accounts = earlier.accounts
    rows = account_takeovers(rng, earlier, accounts, KNOWN_FRAUD_ROWS)
    rows += card_testing(rng, earlier, accounts, KNOWN_FRAUD_ROWS)
    rows += mule_rings(rng, earlier, accounts[: max(4, len(accounts) // 10)], KNOWN_FRAUD_ROWS)
    embeddings, _ = embed_transactions(rows, dim=dim, profiles=world.profiles())
    return reference_vectors(embeddings, [row["_pattern"] for row in rows])


def _everyday_spending(rng: np.random.Generator, world: World, count: int, days: int):
    """Legitimate traffic: habits per account, daily rhythm, the odd trip or new phone."""
    accounts = world.accounts
    activity = np.array([account.activity for account in accounts])
    owners = rng.choice(len(accounts), size=count, p=activity / activity.sum())
    offsets = np.array([accounts[i].home.utc_offset for i in owners])
    seconds = rhythm_offsets(rng, count, offsets, days)
    type_draws, amount_noise, extras = (
        rng.random(count),
        rng.standard_normal(count),
        rng.random((count, 5)),
    )

    rows = []
    for i, owner in enumerate(owners):
        account = accounts[owner]
        type_index = int(np.searchsorted(account.type_cumulative, type_draws[i], side="right"))
        merchant_type = MERCHANT_TYPES[min(type_index, len(MERCHANT_TYPES) - 1)]
        channel = pick(extras[i, 4], merchant_type.channels)
        travelling = extras[i, 0] < TRAVEL_SHARE and channel != "ecommerce"
        place = account.home
        if travelling:
            place = country(weighted_choice(rng, TRAVEL_COUNTRIES))
        amount_eur = (
            merchant_type.median_eur
            * account.spend_scale
            * np.exp(merchant_type.sigma * amount_noise[i])
        )

        device = account.devices[int(extras[i, 1] * len(account.devices))]
        if extras[i, 2] < NEW_DEVICE_SHARE:
            device = hex_id(rng, "dev_")  # a new phone or a browser without cookies
        in_person = channel in ("card_present", "contactless", "atm")
        if in_person and extras[i, 3] < 0.5:
            device = None
        ip = None
        if not in_person or extras[i, 3] > 0.6:  # in person, only an app session has an IP
            if travelling or extras[i, 1] < ROAMING_IP_SHARE:
                ip = world.ip_pool.draw(place.code, rng)
            else:
                ip = account.ips[int(extras[i, 2] * len(account.ips))]
        rows.append(
            transaction(
                account_id=account.account_id,
                occurred_at=world.start + timedelta(seconds=float(seconds[i])),
                amount=local_amount(
                    float(amount_eur), place, round_to=1.0 if channel == "atm" else 0.0
                ),
                country=place,
                merchant_type=merchant_type,
                merchant=world.merchant(merchant_type.key, rng),
                channel=channel,
                source_ip=ip,
                device_id=device,
                pattern="normal",
            )
        )
    return rows


def _flag(rng: np.random.Generator, scores: np.ndarray, wanted: int) -> list[int]:
    """Sample `wanted` rows without replacement, favouring high scores (Gumbel top-k)."""
    keys = scores / FLAG_TEMPERATURE + rng.gumbel(size=len(scores))
    return np.argsort(-keys, kind="stable")[:wanted].tolist()


def _outcome(rng: np.random.Generator, score: float) -> str | None:
    if rng.random() < 0.01:
        return None  # older detector builds sometimes leave the recommendation out
    noisy = score + rng.normal(0.0, 0.03)
    if noisy >= BLOCK_AT:
        return "block"
    if noisy >= INVESTIGATE_AT:
        return "investigate"
    return "approve"


def _unique_id(rng: np.random.Generator, seen: set[str]) -> str:
    while True:
        candidate = hex_id(rng, "tx_", 16)
        if candidate not in seen:
            seen.add(candidate)
            return candidate
