"""Per-row validation against the input contract.

validate_row never raises on bad data: it returns the clean transaction or every reason the
row breaks the contract, so a quarantined row tells the operator all that is wrong at once.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import numpy as np
import pycountry

from cases.ingest.contract import MAX_AMOUNT_EXCLUSIVE, MAX_FEATURES, MAX_LENGTHS, OUTCOMES
from cases.ingest.jsontext import json_loads
from cases.ips.ipaddr import parse_ip

CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
# XK (Kosovo) is user-assigned in ISO 3166 but used by card networks and GeoIP databases.
COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries) | {"XK"}
MCC_PATTERN = re.compile(r"[0-9]{4}")
CENT = Decimal("0.01")


@dataclass(slots=True)
class CleanTransaction:
    transaction_id: str
    account_id: str
    occurred_at: datetime
    amount: Decimal
    currency: str
    merchant: str
    merchant_category: str
    channel: str
    country: str
    source_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    device_id: str
    similarity_score: float
    model_version: str
    outcome: str
    embedding: np.ndarray | None
    features: dict | None


def shown(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def absent(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text_value(
    values: dict, name: str, errors: list[str], *, required: bool = False, limit: int | None = None
) -> str:
    """The column's text, stripped; its problems appended to errors ("" when absent or bad).

    limit: at most this many characters (default: the contract's limit for the column).
    """
    value = values.get(name)
    if absent(value):
        if required:
            errors.append(f"{name} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(f"{name} must be text, got {shown(value)}")
        return ""
    text = str(value).strip()
    limit = limit if limit is not None else MAX_LENGTHS.get(name)
    if limit and len(text) > limit:
        errors.append(f"{name} is longer than {limit} characters")
    if "\x00" in text:
        errors.append(f"{name} contains a NUL character")
    return text


def moment_value(
    values: dict, name: str, errors: list[str], *, required: bool = False
) -> datetime | None:
    """The column's ISO 8601 date-time with its UTC offset; problems appended to errors."""
    value = values.get(name)
    if absent(value):
        if required:
            errors.append(f"{name} is required")
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            errors.append(f"{name} is not an ISO 8601 date-time: {shown(value)}")
            return None
    else:
        errors.append(f"{name} is not an ISO 8601 date-time: {shown(value)}")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        errors.append(
            f"{name} has no UTC offset: {shown(str(value))} "
            "(write it like 2026-11-28T14:03:00+00:00)"
        )
        return None
    return moment


def _amount(values: dict, errors: list[str]) -> Decimal | None:
    value = values.get("amount")
    if absent(value):
        errors.append("amount is required")
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        if isinstance(value, float):
            # repr is the shortest exact spelling: 12.5 stays 12.5, 12.345 keeps 3 decimals
            amount = Decimal(repr(value))
        else:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        errors.append(f"amount is not a decimal number: {shown(value)}")
        return None
    if not amount.is_finite():
        errors.append(f"amount is not a finite number: {shown(value)}")
        return None
    if amount < 0:
        errors.append(f"amount is negative: {amount}")
        return None
    if amount >= MAX_AMOUNT_EXCLUSIVE:
        errors.append(f"amount is too large: {amount} (at most 16 digits before the point)")
        return None
    if amount != amount.quantize(CENT):
        errors.append(f"amount has more than 2 decimals: {amount}")
        return None
    return amount.quantize(CENT)


def _code(values: dict, name: str, allowed: frozenset[str], what: str, errors, *, required):
    value = values.get(name)
    if absent(value):
        if required:
            errors.append(f"{name} is required")
        return ""
    code = str(value).strip().upper()
    if code not in allowed:
        errors.append(f"{name} is not an {what} code: {shown(value)}")
        return ""
    return code


# Cached because a file repeats its IPs and parsing is slow.
_parse_ip = functools.lru_cache(maxsize=65_536)(parse_ip)


def _source_ip(values: dict, errors: list[str]):
    value = values.get("source_ip")
    if absent(value):
        return None
    address = _parse_ip(str(value).strip())
    if address is None:
        errors.append(f"source_ip is not an IPv4 or IPv6 address: {shown(value)}")
    return address


def _similarity_score(values: dict, errors: list[str]) -> float | None:
    value = values.get("similarity_score")
    if absent(value):
        errors.append("similarity_score is required")
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        score = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        errors.append(f"similarity_score is not a number: {shown(value)}")
        return None
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        errors.append(f"similarity_score must be between 0 and 1, got {shown(value)}")
        return None
    return score


def _outcome(values: dict, errors: list[str]) -> str:
    value = values.get("outcome")
    if absent(value):
        return ""
    outcome = str(value).strip().lower()
    if outcome not in OUTCOMES:
        errors.append(f"outcome must be one of {', '.join(OUTCOMES)}, got {shown(value)}")
        return ""
    return outcome


def _merchant_category(values: dict, errors: list[str]) -> str:
    value = values.get("merchant_category")
    if absent(value):
        return ""
    text = str(value).strip()
    if not MCC_PATTERN.fullmatch(text):
        errors.append(f"merchant_category is not a 4-digit MCC: {shown(value)}")
        return ""
    return text


def _embedding(values: dict, dim: int, errors: list[str]) -> np.ndarray | None:
    value = values.get("embedding")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json_loads(value)
        except ValueError:
            errors.append("embedding is not a JSON array")
            return None
    if isinstance(value, np.ndarray):
        vector = value
    elif isinstance(value, list):
        try:
            # Without a dtype numpy keeps strings as strings (refused below) instead of parsing them.
            vector = np.array(value)
        except (TypeError, ValueError):
            errors.append("embedding must be an array of numbers")
            return None
    else:
        errors.append("embedding must be an array of numbers")
        return None
    if vector.dtype.kind not in "fiu":
        errors.append("embedding must be an array of numbers")
        return None
    if vector.ndim != 1:
        errors.append("embedding must be a flat array of numbers")
        return None
    if len(vector) != dim:
        errors.append(f"embedding has {len(vector)} values, expected {dim}")
        return None
    with np.errstate(over="ignore"):  # beyond float32 becomes infinity, refused just below
        vector = vector.astype(np.float32, copy=False)
    if not np.isfinite(vector).all():
        errors.append("embedding has non-finite values (NaN or infinity, or beyond float32)")
        return None
    return vector


def _features(values: dict, errors: list[str]) -> dict | None:
    value = values.get("features")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json_loads(value)
        except ValueError:
            errors.append("features is not valid JSON")
            return None
    if not isinstance(value, dict):
        errors.append(f"features must be a JSON object of numbers, got {type(value).__name__}")
        return None
    if len(value) > MAX_FEATURES:
        errors.append(f"features has {len(value)} entries, at most {MAX_FEATURES} are accepted")
        return None
    bad = [
        str(name)
        for name, number in value.items()
        if isinstance(number, bool)
        or not isinstance(number, int | float)
        or not math.isfinite(number)
        or "\x00" in str(name)
    ]
    if bad:
        errors.append(
            f"features must map names to finite numbers; not so for: {', '.join(bad[:5])}"
        )
        return None
    return value


def validate_row(values: dict, *, embedding_dim: int) -> tuple[CleanTransaction | None, list[str]]:
    """Check one row against every contract rule; return (transaction, []) or (None, reasons)."""
    errors: list[str] = []
    transaction_id = text_value(values, "transaction_id", errors, required=True)
    account_id = text_value(values, "account_id", errors, required=True)
    occurred_at = moment_value(values, "occurred_at", errors, required=True)
    amount = _amount(values, errors)
    currency = _code(values, "currency", CURRENCY_CODES, "ISO 4217 currency", errors, required=True)
    merchant = text_value(values, "merchant", errors)
    merchant_category = _merchant_category(values, errors)
    channel = text_value(values, "channel", errors)
    country = _code(
        values, "country", COUNTRY_CODES, "ISO 3166 alpha-2 country", errors, required=False
    )
    source_ip = _source_ip(values, errors)
    device_id = text_value(values, "device_id", errors)
    similarity_score = _similarity_score(values, errors)
    model_version = text_value(values, "model_version", errors, required=True)
    outcome = _outcome(values, errors)
    embedding = _embedding(values, embedding_dim, errors)
    features = _features(values, errors)
    if errors:
        return None, errors
    return (
        CleanTransaction(
            transaction_id=transaction_id,
            account_id=account_id,
            occurred_at=occurred_at,
            amount=amount,
            currency=currency,
            merchant=merchant,
            merchant_category=merchant_category,
            channel=channel,
            country=country,
            source_ip=source_ip,
            device_id=device_id,
            similarity_score=similarity_score,
            model_version=model_version,
            outcome=outcome,
            embedding=embedding,
            features=features,
        ),
        [],
    )
