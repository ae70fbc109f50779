"""Every rule of the input contract, one breaking value at a time."""

import ipaddress
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest

from cases.ingest.validation import validate_row
from cases.ips.ipaddr import parse_ip
from conftest import contract_row

DIM = 384

RULE_BREAKERS = [
    ({"transaction_id": ...}, "transaction_id is required"),
    ({"transaction_id": "  "}, "transaction_id is required"),
    ({"transaction_id": "x" * 129}, "transaction_id is longer than 128 characters"),
    ({"account_id": ...}, "account_id is required"),
    ({"occurred_at": ...}, "occurred_at is required"),
    ({"occurred_at": "2026-11-28T10:00:00"}, "occurred_at has no UTC offset"),
    ({"occurred_at": datetime(2026, 11, 28, 10)}, "occurred_at has no UTC offset"),
    ({"occurred_at": "yesterday"}, "occurred_at is not an ISO 8601 date-time"),
    ({"amount": ...}, "amount is required"),
    ({"amount": "-1.00"}, "amount is negative"),
    ({"amount": "12.345"}, "amount has more than 2 decimals"),
    ({"amount": 12.345}, "amount has more than 2 decimals"),
    ({"amount": "1,000.00"}, "amount is not a decimal number"),
    ({"amount": "NaN"}, "amount is not a finite number"),
    ({"amount": "1e20"}, "amount is too large"),
    ({"currency": ...}, "currency is required"),
    ({"currency": "XYZ"}, "currency is not an ISO 4217 currency code"),
    ({"merchant": "m" * 256}, "merchant is longer than 255 characters"),
    ({"merchant": "bad\x00name"}, "merchant contains a NUL character"),
    ({"merchant_category": "groceries"}, "merchant_category is not a 4-digit MCC"),
    ({"channel": "c" * 33}, "channel is longer than 32 characters"),
    ({"country": "ZZ"}, "country is not an ISO 3166 alpha-2 country code"),
    ({"country": "DEU"}, "country is not an ISO 3166 alpha-2 country code"),
    ({"source_ip": "999.1.1.1"}, "source_ip is not an IPv4 or IPv6 address"),
    ({"source_ip": "fe80::1%eth0"}, "source_ip is not an IPv4 or IPv6 address"),
    ({"device_id": "d" * 129}, "device_id is longer than 128 characters"),
    ({"similarity_score": ...}, "similarity_score is required"),
    ({"similarity_score": 1.7}, "similarity_score must be between 0 and 1"),
    ({"similarity_score": -0.1}, "similarity_score must be between 0 and 1"),
    ({"similarity_score": "abc"}, "similarity_score is not a number"),
    ({"similarity_score": float("nan")}, "similarity_score must be between 0 and 1"),
    ({"model_version": ...}, "model_version is required"),
    ({"outcome": "maybe"}, "outcome must be one of approve, investigate, block"),
    ({"embedding": [0.1] * 383}, "embedding has 383 values, expected 384"),
    ({"embedding": "[0.1, "}, "embedding is not a JSON array"),
    ({"embedding": [0.1] * 383 + [float("nan")]}, "embedding has non-finite values"),
    ({"embedding": [0.1] * 383 + [1e39]}, "embedding has non-finite values"),
    ({"embedding": ["a"] * 384}, "embedding must be an array of numbers"),
    ({"embedding": {"a": 1}}, "embedding must be an array of numbers"),
    ({"features": "[1, 2]"}, "features must be a JSON object of numbers"),
    ({"features": "{oops"}, "features is not valid JSON"),
    (
        {"features": {"velocity": "high"}},
        "features must map names to finite numbers; not so for: velocity",
    ),
    ({"features": {"flag": True}}, "features must map names to finite numbers; not so for: flag"),
]


@pytest.mark.parametrize(("overrides", "reason"), RULE_BREAKERS)
def test_each_rule_breaker_is_refused_with_its_reason(overrides, reason):
    clean, reasons = validate_row(contract_row(1, **overrides), embedding_dim=DIM)

    assert clean is None
    assert len(reasons) == 1, reasons
    assert reasons[0].startswith(reason), reasons


def test_a_row_breaking_many_rules_gets_every_reason():
    row = contract_row(1, amount="-5", currency="XYZ", similarity_score=3, outcome="maybe")

    clean, reasons = validate_row(row, embedding_dim=DIM)

    assert clean is None
    assert [reason.split(" ")[0] for reason in reasons] == [
        "amount", "currency", "similarity_score", "outcome",
    ]  # fmt: skip


def test_a_valid_row_is_normalised():
    row = contract_row(
        3,
        amount="7.5",
        currency="eur",
        country="de",
        outcome="BLOCK",
        source_ip="2001:DB8:0:0::1",
        occurred_at="2026-11-28T10:00:00Z",
        embedding="[" + ",".join(["0.5"] * DIM) + "]",
        features='{"log_amount": 2}',
        merchant="  Corner Shop  ",
        channel="",
    )

    clean, reasons = validate_row(row, embedding_dim=DIM)

    assert reasons == []
    assert clean.amount == Decimal("7.50")
    assert clean.currency == "EUR"
    assert clean.country == "DE"
    assert clean.outcome == "block"
    assert str(clean.source_ip) == "2001:db8::1"
    assert clean.occurred_at.isoformat() == "2026-11-28T10:00:00+00:00"
    assert clean.embedding.dtype == np.float32 and clean.embedding.shape == (DIM,)
    assert clean.features == {"log_amount": 2}
    assert clean.merchant == "Corner Shop"
    assert clean.channel == ""


def test_optional_columns_may_be_absent():
    row = contract_row(4)
    for optional in ("merchant", "merchant_category", "channel", "country", "source_ip",
                     "device_id", "outcome", "embedding", "features"):  # fmt: skip
        row.pop(optional)

    clean, reasons = validate_row(row, embedding_dim=DIM)

    assert reasons == []
    assert clean.embedding is None and clean.source_ip is None and clean.outcome == ""


@pytest.mark.parametrize(
    "text",
    ["1.2.3.4", "0.0.0.0", "255.255.255.255", " 10.0.0.1\n", "01.2.3.4", "1.2.3.04", "000.1.1.1",
     "256.1.1.1", "1.2.3", "1.2.3.4.5", "1..3.4", "+1.2.3.4", "1.2.3.-4", "0x1.2.3.4",
     "1.2.3.1234", "١.٢.٣.٤", "1.2.3.4\x00", "::1", "::ffff:1.2.3.4", "2001:DB8::1", "fe80::1%eth0",
     "10.0.0.0/8", "", "x"],
)  # fmt: skip
def test_source_ip_parsing_agrees_with_the_standard_library(text):
    """parse_ip's C fast path for dotted quads accepts and refuses exactly what ipaddress does."""
    stripped = text.strip()
    try:
        expected = None if "%" in stripped or "/" in stripped else ipaddress.ip_address(stripped)
    except ValueError:
        expected = None
    got = parse_ip(text)
    assert got == expected
    assert type(got) is type(expected)
