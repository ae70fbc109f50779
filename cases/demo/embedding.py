"""A stand-in for the upstream detector's transaction embedding.

Each vector is two blocks, both unit length before weighting:
- behaviour: scaled numeric features (amount, time of day, novelty, velocity) turned into a
  dense block by a fixed orthonormal projection, so cosine similarity between blocks equals
  the similarity of the feature vectors themselves;
- text: merchant, merchant category, channel and country hashed into a huge sparse space
  (word and character-trigram tokens, signed hashing) and projected with seeded Gaussian
  rows, so similar text lands close together.

Everything is deterministic for a given `model_seed`: it plays the part of trained weights.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from cases.demo.world import COUNTRY_BY_CODE, EUR_RATES

DETECTOR_SEED = 20261102
HASH_BITS = 20
MIN_DIM = 32  # room for the behaviour block (one dim per input) and some text

FEATURE_NAMES = (
    "log_amount",
    "amount_vs_median",
    "hour_sin",
    "hour_cos",
    "is_night",
    "new_device",
    "new_ip",
    "new_country",
    "cross_border",
    "account_tx_1h",
    "account_tx_24h",
    "minutes_since_prev",
    "ip_tx_1h",
    "ip_accounts_24h",
    "device_accounts_7d",
)
# A constant input: typical transactions (features near 0) point along it, unusual ones away.
BIAS = 1.0
BEHAVIOUR_WEIGHT = 0.8
TEXT_WEIGHT = 0.6
# Relative weight of each text field inside the text block.
TEXT_FIELDS = {"merchant": 0.45, "merchant_category": 0.6, "channel": 0.5, "country": 0.4}

HOUR, DAY = 3600.0, 86400.0


@dataclass(frozen=True)
class AccountProfile:
    """What the detector already knows about an account before the rows at hand."""

    home_country: str | None = None
    devices: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    median_amount_eur: float | None = None


def embed_transactions(
    rows: Sequence[Mapping[str, Any]],
    *,
    dim: int = 384,
    model_seed: int = DETECTOR_SEED,
    profiles: Mapping[str, AccountProfile] | None = None,
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Embed `rows` (in any order; history is read in time order) as unit float32 vectors.

    Returns the (len(rows), dim) matrix and, per row, the scaled features by name: the same
    rounded numbers that went into the vector.
    """
    if dim < MIN_DIM:
        raise ValueError(f"dim must be at least {MIN_DIM}")
    features = transaction_features(rows, profiles=profiles)
    behaviour_dim = max(len(FEATURE_NAMES) + 1, dim // 3)
    text_dim = dim - behaviour_dim

    inputs = np.hstack([np.full((len(rows), 1), BIAS), features]).astype(np.float32)
    vectors = np.empty((len(rows), dim), dtype=np.float32)
    vectors[:, :behaviour_dim] = _unit_rows(
        inputs @ _behaviour_projection(model_seed, behaviour_dim)
    )
    vectors[:, behaviour_dim:] = _unit_rows(_text_block(rows, text_dim, model_seed))
    vectors[:, :behaviour_dim] *= BEHAVIOUR_WEIGHT
    vectors[:, behaviour_dim:] *= TEXT_WEIGHT
    vectors = _unit_rows(vectors)
    feature_dicts = [dict(zip(FEATURE_NAMES, values, strict=True)) for values in features.tolist()]
    return vectors, feature_dicts


def similarity_scores(embeddings: np.ndarray, reference_vectors: np.ndarray) -> np.ndarray:
    """Highest cosine similarity of each embedding to any reference vector, clipped to [0, 1]."""
    embeddings = _unit_rows(np.atleast_2d(np.asarray(embeddings, dtype=np.float32)))
    references = _unit_rows(np.atleast_2d(np.asarray(reference_vectors, dtype=np.float32)))
    if len(embeddings) == 0:
        return np.zeros(0)
    return np.clip((embeddings @ references.T).max(axis=1).astype(np.float64), 0.0, 1.0)


def reference_vectors(embeddings: np.ndarray, patterns: Sequence[str]) -> np.ndarray:
    """Unit centroids of each fraud pattern's embeddings (rows marked "normal" are skipped)."""
    labels = np.asarray(patterns)
    centroids = [
        embeddings[labels == pattern].mean(axis=0)
        for pattern in sorted(set(labels.tolist()) - {"normal"})
    ]
    return _unit_rows(np.vstack(centroids)).astype(np.float32)


def transaction_features(
    rows: Sequence[Mapping[str, Any]],
    *,
    profiles: Mapping[str, AccountProfile] | None = None,
) -> np.ndarray:
    """Scaled detector inputs, one row per transaction, columns as FEATURE_NAMES, rounded."""
    profiles = profiles or {}
    count = len(rows)
    stamps = [_timestamp(row.get("occurred_at")) for row in rows]
    order = sorted(range(count), key=lambda index: (stamps[index], index))
    out = np.zeros((count, len(FEATURE_NAMES)))

    account_times: dict[str, list[float]] = {}
    account_amounts: dict[str, list[float]] = {}
    first_seen: dict[tuple[str, str, str], float] = {}  # (account, kind, value) -> time
    home_countries: dict[str, str] = {}
    ip_events: dict[str, list[tuple[float, str]]] = {}
    device_events: dict[str, list[tuple[float, str]]] = {}

    for index in order:
        row, now = rows[index], stamps[index]
        account = str(row.get("account_id") or "")
        profile = profiles.get(account) or AccountProfile()
        country, device, ip = row.get("country"), row.get("device_id"), row.get("source_ip")
        home = profile.home_country or home_countries.setdefault(account, country or "")

        amount_eur = _amount_eur(row.get("amount"), row.get("currency"))
        history = account_amounts.setdefault(account, [])
        median = profile.median_amount_eur
        if median is None:
            median = float(np.median(history[-50:])) if history else amount_eur
        history.append(amount_eur)

        offset = COUNTRY_BY_CODE[home].utc_offset if home in COUNTRY_BY_CODE else 0.0
        local_hour = ((now / HOUR) + offset) % 24.0

        times = account_times.setdefault(account, [])
        previous_minutes = (now - times[-1]) / 60.0 if times else 30 * 24 * 60.0
        account_1h = len(times) - bisect_left(times, now - HOUR)
        account_24h = len(times) - bisect_left(times, now - DAY)
        times.append(now)

        out[index] = (
            (math.log1p(amount_eur) - 3.4) / 1.3,
            max(-4.0, min(4.0, math.log((amount_eur + 1.0) / (median + 1.0)))),
            0.7 * math.sin(2 * math.pi * local_hour / 24.0),
            0.7 * math.cos(2 * math.pi * local_hour / 24.0),
            1.0 if local_hour < 6.0 else 0.0,
            _novelty(first_seen, (account, "device", device), profile.devices, now),
            _novelty(first_seen, (account, "ip", ip), profile.ips, now),
            _novelty(first_seen, (account, "country", country), (home,), now),
            1.0 if country and home and country != home else 0.0,
            math.log1p(account_1h),
            math.log1p(account_24h) / 1.5,
            (math.log1p(previous_minutes) - 6.5) / 2.5,
            math.log1p(_window_count(ip_events, ip, now, HOUR, account, distinct=False)),
            math.log1p(_window_count(ip_events, ip, now, DAY, account, distinct=True)),
            math.log1p(_window_count(device_events, device, now, 7 * DAY, account, distinct=True)),
        )
        for events, key in ((ip_events, ip), (device_events, device)):
            if key:
                events.setdefault(str(key), []).append((now, account))
    return np.round(out, 4)


def _novelty(first_seen: dict, key: tuple[str, str, Any], usual: tuple[str, ...], now: float):
    """1.0 while a device, IP or country is less than a day old for the account, else 0.0."""
    value = key[2]
    if value in (None, "") or value in usual:
        return 0.0
    seen_at = first_seen.setdefault((key[0], key[1], str(value)), now)
    return 1.0 if now - seen_at < DAY else 0.0


def _window_count(events, key, now, window, account, *, distinct):
    """Earlier events on the same IP or device inside `window` (other accounts if distinct)."""
    if not key:
        return 0
    history = events.get(str(key), ())
    start = bisect_left(history, (now - window, ""))
    if not distinct:
        return len(history) - start
    return len({other for _, other in history[start:] if other != account})


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


def _amount_eur(amount: Any, currency: Any) -> float:
    try:
        value = abs(float(amount))
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value):
        return 0.0
    return value / EUR_RATES.get(str(currency), 1.0)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]
    return matrix / np.where(norms == 0, 1, norms).astype(matrix.dtype)


@lru_cache(maxsize=8)
def _behaviour_projection(model_seed: int, width: int) -> np.ndarray:
    """Orthonormal rows: the projection keeps dot products between feature vectors."""
    inputs = len(FEATURE_NAMES) + 1
    gaussian = np.random.default_rng([model_seed, 1]).standard_normal((width, inputs))
    orthonormal, _ = np.linalg.qr(gaussian)
    return orthonormal.T.astype(np.float32)


def _text_block(rows: Sequence[Mapping[str, Any]], width: int, model_seed: int) -> np.ndarray:
    block = np.zeros((len(rows), width), dtype=np.float32)
    if not rows:
        return block
    for field, weight in TEXT_FIELDS.items():
        values = [row.get(field) for row in rows]
        distinct = {value: position for position, value in enumerate(dict.fromkeys(values))}
        table = np.vstack([_field_vector(field, value, width, model_seed) for value in distinct])
        table = (weight * table).astype(np.float32)
        block += table[np.fromiter((distinct[value] for value in values), np.intp, len(values))]
    return block


def _field_vector(field: str, value: Any, width: int, model_seed: int) -> np.ndarray:
    if value in (None, ""):
        return np.zeros(width)
    vector = np.zeros(width)
    for token, weight in _tokens(field, str(value)):
        vector += weight * _token_vector(token, width, model_seed)
    return vector / (np.linalg.norm(vector) or 1.0)


def _tokens(field: str, value: str) -> list[tuple[str, float]]:
    text = value.strip().lower()
    if field == "merchant":
        # Whole words carry the brand, trigrams make "Electronics"/"Electronic" neighbours.
        padded = f" {text} "
        tokens = [(f"word:{word}", 1.0) for word in text.split()]
        tokens += [(f"tri:{padded[i : i + 3]}", 0.35) for i in range(len(padded) - 2)]
        return tokens
    if field == "merchant_category":
        return [(f"mcc:{text}", 1.0), (f"mcc-group:{text[:2]}", 0.6)]
    return [(f"{field}:{text}", 1.0)]


@lru_cache(maxsize=65536)
def _token_vector(token: str, width: int, model_seed: int) -> np.ndarray:
    """Signed hashing into 2**HASH_BITS buckets; each bucket owns a seeded Gaussian row."""
    digest = hashlib.blake2b(token.encode(), digest_size=8, key=b"fraudcase-demo").digest()
    hashed = int.from_bytes(digest, "big")
    bucket, sign = hashed % (1 << HASH_BITS), 1.0 if hashed >> 63 else -1.0
    row = np.random.default_rng([model_seed, 2, bucket]).standard_normal(width)
    return sign * row / math.sqrt(width)
