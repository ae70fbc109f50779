"""The demo data generator and the file encoders: pure Python, no Django, no database."""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pycountry
import pytest

from cases.demo.bundle import NEEDS_REVIEW_RULES, needs_review_rows
from cases.demo.curation import COMMON_USER_AGENTS, ODD_USER_AGENTS
from cases.demo.embedding import FEATURE_NAMES, embed_transactions, similarity_scores
from cases.demo.generator import (
    MODEL_VERSION,
    SHADOW_MODEL_VERSION,
    demo_files,
    generate_curation_records,
    generate_flagged_transactions,
    generate_shadow_scores,
    write_demo_files,
)
from cases.demo.ips import ip_country
from cases.demo.population import build_world
from cases.demo.world import COUNTRIES, COUNTRY_BY_CODE, MERCHANT_TYPE_BY_KEY
from cases.fileformats import CONTRACT_COLUMNS, FORMATS, encode_rows

END = datetime(2026, 11, 28, 12, tzinfo=UTC)
DIM = 384
SMALL = {"seed": 11, "accounts": 300, "merchants": 200, "transactions": 3000, "end": END}
FRAUD_PATTERNS = {"account_takeover", "card_testing", "mule_ring"}


@pytest.fixture(scope="module")
def flagged() -> list[dict]:
    return generate_flagged_transactions(**SMALL)


@pytest.fixture(scope="module")
def files(flagged) -> dict[str, bytes]:
    curation = generate_curation_records(flagged, seed=11)
    return dict(demo_files(flagged, curation, prefix_date="2026-11-28"))


def by_pattern(rows: list[dict]) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for row in rows:
        groups[row["_pattern"]].append(row)
    return groups


def decode(data: bytes, fmt: str) -> list[dict]:
    """Read a file back with the standard libraries only (not with the code under test)."""
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if fmt.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    if fmt.startswith("csv"):
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]


# The package ---------------------------------------------------------------------------------


def test_demo_package_imports_without_django():
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    code = (
        "import sys, cases.demo.generator, cases.fileformats, cases.demo.embedding;"
        "print('django' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_world_uses_real_codes_and_merchant_categories():
    assert len(COUNTRIES) >= 30
    for country in COUNTRIES:
        assert pycountry.countries.get(alpha_2=country.code) is not None
        assert pycountry.currencies.get(alpha_3=country.currency) is not None
    mccs = {key: merchant_type.mcc for key, merchant_type in MERCHANT_TYPE_BY_KEY.items()}
    assert mccs["grocery"] == "5411"
    assert mccs["electronics"] == "5732"
    assert mccs["restaurant"] == "5812"
    assert mccs["money_transfer"] == "4829"
    assert mccs["atm"] == "6011"
    assert mccs["misc_retail"] == "5999"
    assert mccs["gambling"] == "7995"


def test_world_has_the_requested_accounts_and_distinct_merchants():
    world = build_world(
        np.random.default_rng(1),
        seed=1,
        accounts=400,
        merchants=300,
        start=END - timedelta(days=30),
        end=END,
    )
    names = [name for group in world.merchants.values() for name in group]

    assert len(world.accounts) == 400
    assert world.accounts[122].account_id == "acc_000123"
    assert len(names) == len(set(names)) >= 300
    assert len({account.home.code for account in world.accounts}) >= 25
    for account in world.accounts[:50]:
        assert all(ip_country(ip) == account.home.code for ip in account.ips)


# Generated rows ------------------------------------------------------------------------------


def test_same_seed_and_end_give_the_same_rows(flagged):
    again = generate_flagged_transactions(**SMALL)

    assert encode_rows(again, "jsonl") == encode_rows(flagged, "jsonl")
    assert [row["_pattern"] for row in again] == [row["_pattern"] for row in flagged]


def test_another_seed_gives_other_rows():
    small = {**SMALL, "accounts": 100, "transactions": 300}
    first = generate_flagged_transactions(**small)
    other = generate_flagged_transactions(**{**small, "seed": 12})

    assert {row["transaction_id"] for row in first}.isdisjoint(
        row["transaction_id"] for row in other
    )


def test_rows_follow_the_contract(flagged):
    start = END - timedelta(days=30)
    assert len(flagged) == 3000
    assert len({row["transaction_id"] for row in flagged}) == 3000
    assert [row["occurred_at"] for row in flagged] == sorted(row["occurred_at"] for row in flagged)
    mccs = {merchant_type.mcc for merchant_type in MERCHANT_TYPE_BY_KEY.values()}
    for row in flagged:
        assert list(row)[: len(CONTRACT_COLUMNS)] == list(CONTRACT_COLUMNS)
        assert re.fullmatch(r"tx_[0-9a-f]{16}", row["transaction_id"])
        assert re.fullmatch(r"acc_\d{6}", row["account_id"])
        assert row["device_id"] is None or re.fullmatch(r"dev_[0-9a-f]{12}", row["device_id"])
        assert row["occurred_at"].utcoffset() == timedelta(0)
        assert start <= row["occurred_at"] < END
        assert isinstance(row["amount"], Decimal)
        assert row["amount"] >= 0 and row["amount"].as_tuple().exponent == -2
        assert row["currency"] == COUNTRY_BY_CODE[row["country"]].currency
        assert row["merchant_category"] in mccs
        assert row["channel"] in {"card_present", "contactless", "ecommerce", "transfer", "atm"}
        assert 0.0 <= row["similarity_score"] <= 1.0
        assert row["similarity_score"] == round(row["similarity_score"], 4)
        assert row["model_version"].startswith("detector-")
        assert row["outcome"] in {"approve", "investigate", "block", None}
    assert flagged[-1]["model_version"] == MODEL_VERSION


def test_about_a_tenth_of_rows_is_planted_fraud(flagged):
    patterns = Counter(row["_pattern"] for row in flagged)

    assert set(patterns) == FRAUD_PATTERNS | {"normal"}
    assert 0.08 <= 1 - patterns["normal"] / len(flagged) <= 0.13
    assert min(patterns[pattern] for pattern in FRAUD_PATTERNS) >= 60


def test_card_testing_is_bursts_of_tiny_amounts_from_one_ip(flagged):
    bursts = defaultdict(list)
    for row in by_pattern(flagged)["card_testing"]:
        bursts[row["source_ip"]].append(row)

    for rows in bursts.values():
        assert 5 <= len(rows) <= 30
        assert all(Decimal("0.50") <= row["amount"] <= Decimal("2.00") for row in rows)
        assert {row["channel"] for row in rows} == {"ecommerce"}
        assert len({row["merchant"] for row in rows}) <= 3
        assert rows[-1]["occurred_at"] - rows[0]["occurred_at"] < timedelta(minutes=40)


def test_account_takeover_starts_at_night_from_a_new_country_device_and_ip(flagged):
    takeovers = defaultdict(list)
    for row in by_pattern(flagged)["account_takeover"]:
        takeovers[row["device_id"]].append(row)

    new_country = []
    for rows in takeovers.values():
        first = rows[0]["features"]
        assert (first["is_night"], first["new_device"], first["new_ip"]) == (1.0, 1.0, 1.0)
        assert first["cross_border"] == 1.0
        # An earlier trip (or a card test routed through that country) can make it known.
        new_country.append(first["new_country"])
        assert len({row["account_id"] for row in rows}) == 1
        assert {row["merchant_category"] for row in rows} <= {
            "5732",
            "5947",
            "6051",
            "4829",
            "5815",
        }
        assert all(row["features"]["amount_vs_median"] > 1.0 for row in rows)
    assert np.mean(new_country) >= 0.9


def test_mule_rings_are_groups_of_accounts_sharing_ips_and_devices(flagged):
    mule_rows = by_pattern(flagged)["mule_ring"]
    parent = {row["account_id"]: row["account_id"] for row in mule_rows}

    def root(account):
        while parent[account] != account:
            account = parent[account]
        return account

    first_user: dict[str, str] = {}
    for row in mule_rows:
        for shared in (row["source_ip"], row["device_id"]):
            other = first_user.setdefault(shared, row["account_id"])
            parent[root(row["account_id"])] = root(other)
    rings = Counter(root(account) for account in parent)

    assert all(4 <= size <= 10 for size in rings.values())
    assert {(row["channel"], row["merchant_category"]) for row in mule_rows} == {
        ("transfer", "4829")
    }
    ring_ips = defaultdict(set)
    for row in mule_rows:
        ring_ips[root(row["account_id"])].add(row["source_ip"])
    assert all(1 <= len(ips) <= 3 for ips in ring_ips.values())


def test_source_ips_are_public_and_located_in_the_rows_country(flagged):
    with_ip = [row for row in flagged if row["source_ip"]]
    addresses = [ipaddress.ip_address(row["source_ip"]) for row in with_ip]
    ipv4 = [row for row, address in zip(with_ip, addresses, strict=True) if address.version == 4]
    located = sum(ip_country(row["source_ip"]) == row["country"] for row in ipv4)

    assert all(address.is_global for address in addresses)
    assert located >= 0.9 * len(ipv4)
    assert 0.01 <= 1 - len(ipv4) / len(with_ip) <= 0.12  # about 5 % IPv6


def test_fraud_scores_higher_than_the_false_positives_but_they_overlap(flagged):
    fraud = [row["similarity_score"] for row in flagged if row["_pattern"] != "normal"]
    normal = [row["similarity_score"] for row in flagged if row["_pattern"] == "normal"]

    assert np.mean(fraud) > np.mean(normal) + 0.1
    assert max(normal) > min(fraud)
    blocked = [row for row in flagged if row["similarity_score"] >= 0.95]
    approved = [row for row in flagged if row["similarity_score"] < 0.5]
    assert all(row["outcome"] in {"block", None} for row in blocked)
    assert Counter(row["outcome"] for row in approved).most_common(1)[0][0] == "approve"


def test_nearest_neighbour_of_card_testing_is_card_testing(flagged):
    vectors = np.vstack([row["embedding"] for row in flagged])
    patterns = np.array([row["_pattern"] for row in flagged])
    testing = np.flatnonzero(patterns == "card_testing")
    similarities = vectors[testing] @ vectors.T
    similarities[np.arange(len(testing)), testing] = -np.inf  # not itself

    neighbours = patterns[similarities.argmax(axis=1)]
    assert np.mean(neighbours == "card_testing") > 0.5


def test_embeddings_are_unit_float32_vectors_with_named_features(flagged):
    for row in flagged[::50]:
        assert row["embedding"].dtype == np.float32
        assert row["embedding"].shape == (DIM,)
        assert float(np.linalg.norm(row["embedding"])) == pytest.approx(1.0, abs=1e-5)
        assert tuple(row["features"]) == FEATURE_NAMES
        assert all(math.isfinite(value) for value in row["features"].values())


# The embedding on its own ---------------------------------------------------------------------


def purchase(merchant: str, mcc: str, **overrides) -> dict:
    row = {
        "account_id": "acc_000001",
        "occurred_at": datetime(2026, 11, 3, 14, 5, tzinfo=UTC),
        "amount": Decimal("149.99"),
        "currency": "EUR",
        "merchant": merchant,
        "merchant_category": mcc,
        "channel": "ecommerce",
        "country": "DE",
        "source_ip": None,
        "device_id": "dev_0a1b2c3d4e5f",
    }
    return {**row, **overrides}


def test_similar_text_embeds_closer_than_different_text():
    rows = [
        purchase("Blue Harbor Electronics", "5732"),
        purchase("Blue Harbor Electronic", "5732", account_id="acc_000002", device_id="dev_2"),
        purchase("Green Valley Grocers", "5411", account_id="acc_000003", device_id="dev_3"),
    ]
    vectors, features = embed_transactions(rows, dim=64)

    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    assert features[0] == features[1] == features[2]
    assert vectors[0] @ vectors[1] > 0.9 > vectors[0] @ vectors[2]


def test_features_describe_a_new_device_at_night_and_a_burst_on_one_ip():
    night = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 03:00 in Germany
    rows = [
        purchase(
            "Pixel Apps",
            "5815",
            occurred_at=night + timedelta(seconds=30 * i),
            account_id=f"acc_{i:06d}",
            amount=Decimal("1.00"),
            source_ip="81.2.69.160",
        )
        for i in range(4)
    ]
    _, features = embed_transactions(rows, dim=32)

    assert [f["ip_tx_1h"] for f in features] == [round(math.log1p(i), 4) for i in range(4)]
    assert [f["ip_accounts_24h"] for f in features] == [round(math.log1p(i), 4) for i in range(4)]
    assert features[0]["is_night"] == 1.0
    assert features[0]["new_device"] == features[0]["new_ip"] == 1.0
    assert features[0]["log_amount"] == round((math.log1p(1.0) - 3.4) / 1.3, 4)


def test_embedding_is_deterministic_and_rejects_tiny_dimensions():
    rows = [purchase("Blue Harbor Electronics", "5732")]
    first, _ = embed_transactions(rows, dim=48)
    second, _ = embed_transactions(rows, dim=48)

    assert first.tobytes() == second.tobytes()
    with pytest.raises(ValueError):
        embed_transactions(rows, dim=8)


def test_similarity_scores_take_the_best_reference_and_clip():
    embeddings = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    references = np.array([[1.0, 0.0], [0.6, 0.8]])

    scores = similarity_scores(embeddings, references)

    assert scores.tolist() == pytest.approx([1.0, 0.8, 0.0], abs=1e-6)


# Encoders ------------------------------------------------------------------------------------


def contract_row(**overrides) -> dict:
    row = {
        "transaction_id": "tx_00000000000000a1",
        "account_id": "acc_000001",
        "occurred_at": datetime(2026, 11, 28, 13, 5, tzinfo=UTC),
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "merchant": 'Fox & Hound, "Bistro"\nBerlin',
        "merchant_category": "5812",
        "channel": "card_present",
        "country": "DE",
        "source_ip": None,
        "device_id": None,
        "similarity_score": 0.8125,
        "model_version": "detector-2026.11.2",
        "outcome": "investigate",
        "embedding": np.array([0.5, -0.25, 0.125], dtype=np.float32),
        "features": {"log_amount": -0.75, "is_night": 0.0},
        "_pattern": "normal",
    }
    return {**row, **overrides}


def test_jsonl_writes_decimals_digit_for_digit():
    row = {
        "transaction_id": "tx_1",
        "amount": Decimal("12.50"),
        "occurred_at": datetime(2026, 11, 28, 13, 5, tzinfo=UTC),
        "merchant": None,
        "_pattern": "normal",
    }

    assert encode_rows([row], "jsonl") == (
        b'{"transaction_id":"tx_1","amount":12.50,'
        b'"occurred_at":"2026-11-28T13:05:00+00:00","merchant":null}\n'
    )


def test_csv_writes_the_contract_header_and_plain_text_cells():
    text = encode_rows([contract_row()], "csv").decode()

    header, line = text.split("\n", 1)
    assert header == ",".join(CONTRACT_COLUMNS)
    assert line == (
        "tx_00000000000000a1,acc_000001,2026-11-28T13:05:00+00:00,12.50,EUR,"
        '"Fox & Hound, ""Bistro""\nBerlin",5812,card_present,DE,,,0.8125,detector-2026.11.2,'
        'investigate,"[0.5,-0.25,0.125]","{""log_amount"":-0.75,""is_night"":0.0}"\n'
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips(flagged, fmt):
    rows = [contract_row()] + flagged[:40]

    decoded = decode(encode_rows(rows, fmt), fmt)

    assert len(decoded) == len(rows)
    for original, back in zip(rows, decoded, strict=True):
        assert "_pattern" not in back
        assert back["transaction_id"] == original["transaction_id"]
        assert back["merchant"] == original["merchant"]
        assert str(back["amount"]) == str(original["amount"])
        occurred_at = back["occurred_at"]
        if isinstance(occurred_at, str):
            occurred_at = datetime.fromisoformat(occurred_at)
        assert occurred_at == original["occurred_at"]
        assert float(back["similarity_score"]) == original["similarity_score"]
        embedding = back["embedding"]
        features = back["features"]
        if isinstance(embedding, str):
            embedding, features = json.loads(embedding), json.loads(features)
        elif fmt == "parquet":
            features = json.loads(features)
        assert np.allclose(np.asarray(embedding, dtype=float), original["embedding"], atol=1e-6)
        assert {key: float(value) for key, value in features.items()} == original["features"]
        assert back["source_ip"] in (original["source_ip"], "" if fmt.startswith("csv") else None)


def test_csv_and_jsonl_keep_12_50(flagged):
    row = contract_row()
    assert "12.50" in decode(encode_rows([row], "csv.gz"), "csv.gz")[0]["amount"]
    assert b'"amount":12.50,' in gzip.decompress(encode_rows([row], "jsonl.gz"))


def test_parquet_uses_the_contract_types_and_small_row_groups():
    rows = [
        contract_row(transaction_id=f"tx_{i:016x}", embedding=np.full(8, i % 7, dtype=np.float32))
        for i in range(25_000)
    ]
    rows[3]["embedding"] = None
    rows[4]["features"] = None

    parquet = pq.ParquetFile(io.BytesIO(encode_rows(rows, "parquet")))

    schema = parquet.schema_arrow
    assert schema.field("transaction_id").type == pa.string()
    assert schema.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amount").type == pa.decimal128(18, 2)
    assert schema.field("similarity_score").type == pa.float64()
    assert schema.field("embedding").type == pa.list_(pa.float32())
    assert schema.field("features").type == pa.string()
    assert schema.names == list(CONTRACT_COLUMNS)
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert sizes == [10_000, 10_000, 5_000]
    table = parquet.read()
    assert table.column("embedding")[3].as_py() is None
    assert table.column("features")[4].as_py() is None
    assert table.column("amount")[0].as_py() == Decimal("12.50")


def test_parquet_writes_a_column_as_text_when_a_value_does_not_fit():
    rows = [
        contract_row(),
        contract_row(
            amount=Decimal("12.345"),
            similarity_score="abc",
            occurred_at=datetime(2026, 11, 28, 13, 5),
            embedding=["a", 1.0],
        ),
    ]

    table = pq.read_table(io.BytesIO(encode_rows(rows, "parquet")))

    for column in ("amount", "similarity_score", "occurred_at", "embedding"):
        assert table.schema.field(column).type == pa.string()
    assert table.column("amount").to_pylist() == ["12.50", "12.345"]
    assert table.column("similarity_score").to_pylist() == ["0.8125", "abc"]
    assert table.column("occurred_at").to_pylist()[1] == "2026-11-28T13:05:00"
    assert table.schema.field("currency").type == pa.string()
    assert table.schema.field("features").type == pa.string()


def test_extra_keys_are_written_and_private_keys_never():
    row = contract_row(batch="b-17", _source_line=3)

    csv_header = encode_rows([row], "csv").decode().split("\n", 1)[0]
    jsonl = json.loads(encode_rows([row], "jsonl"))
    parquet = pq.read_table(io.BytesIO(encode_rows([row], "parquet")))

    assert csv_header.split(",")[-1] == "batch"
    assert jsonl["batch"] == "b-17"
    assert parquet.column("batch").to_pylist() == ["b-17"]
    for names in (csv_header.split(","), list(jsonl), parquet.schema.names):
        assert not any(name.startswith("_") for name in names)


def test_encoders_write_wrong_values_as_given():
    row = contract_row(amount="twelve", similarity_score=1.7, embedding=[float("nan"), 1.0])

    line = decode(encode_rows([row], "csv"), "csv")[0]

    assert (line["amount"], line["similarity_score"], line["embedding"]) == (
        "twelve",
        "1.7",
        "[NaN,1.0]",
    )
    assert b'"amount":"twelve"' in encode_rows([row], "jsonl")


def test_gzip_output_is_reproducible():
    rows = [contract_row()]
    assert encode_rows(rows, "csv.gz") == encode_rows(rows, "csv.gz")
    assert encode_rows(rows, "jsonl.gz")[4:8] == b"\x00\x00\x00\x00"  # no timestamp


def test_hundred_thousand_rows_stream_through_csv_gz():
    row = contract_row(embedding=None, features=None, merchant="Northwind Grocers")
    data = encode_rows((row for _ in range(100_000)), "csv.gz")

    assert gzip.decompress(data).count(b"\n") == 100_001


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        encode_rows([], "xml")


# Demo files ----------------------------------------------------------------------------------


def test_demo_files_cover_every_format_once(files, flagged):
    prefix = "flagged/2026-11-28/"
    assert list(files) == [
        prefix + "part-0001.parquet",
        prefix + "part-0002.csv.gz",
        prefix + "part-0003.jsonl.gz",
        prefix + "part-0004.csv",
        prefix + "part-0005.jsonl",
        prefix + "part-0006-needs-review.csv",
        "curation/2026-11-28/ips-0001.jsonl.gz",
    ]
    parts = [decode(files[key], key.split(".", 1)[1]) for key in list(files)[:5]]
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1
    review = decode(files[prefix + "part-0006-needs-review.csv"], "csv")
    written = [row["transaction_id"] for part in parts for row in part]
    written += [row["transaction_id"] for row in review]
    assert set(written) == {row["transaction_id"] for row in flagged} | {
        row["transaction_id"] for row in review
    }
    assert len(written) - len(set(written)) == 5  # the planted duplicates, and only those


def test_the_shadow_file_scores_the_champions_transactions_and_sees_fraud_better(flagged):
    shadow = generate_shadow_scores(flagged, seed=11, champion=MODEL_VERSION)
    assert shadow == generate_shadow_scores(flagged, seed=11, champion=MODEL_VERSION)
    champion = {
        row["transaction_id"]: row for row in flagged if row["model_version"] == MODEL_VERSION
    }
    assert 0 < len(champion) < len(flagged)  # only the current model's traffic was shadowed
    assert [row["transaction_id"] for row in shadow] == list(champion)
    assert {row["model_version"] for row in shadow} == {SHADOW_MODEL_VERSION} != {MODEL_VERSION}
    assert all(0 <= row["similarity_score"] <= 1 for row in shadow)
    assert {row["outcome"] for row in shadow} == {"approve", "investigate", "block"}
    assert all(datetime.fromisoformat(row["scored_at"]).tzinfo is not None for row in shadow)

    def mean_gap(rows):  # mean score of fraud minus that of the false positives
        fraud = [score for pattern, score in rows if pattern != "normal"]
        normal = [score for pattern, score in rows if pattern == "normal"]
        return np.mean(fraud) - np.mean(normal)

    by_id = {row["transaction_id"]: row["similarity_score"] for row in shadow}
    assert mean_gap([(r["_pattern"], by_id[t]) for t, r in champion.items()]) > mean_gap(
        [(r["_pattern"], r["similarity_score"]) for r in champion.values()]
    )
    files = dict(demo_files(flagged, [], prefix_date="2026-11-28", shadow=shadow))
    written = decode(files["shadow/2026-11-28/scores-0001.jsonl.gz"], "jsonl.gz")
    assert list(written[0]) == [
        "transaction_id", "model_version", "similarity_score", "outcome", "scored_at",
    ]  # fmt: skip
    assert len(written) == len(shadow)


def test_needs_review_file_holds_the_rule_breakers(files, flagged):
    review = decode(files["flagged/2026-11-28/part-0006-needs-review.csv"], "csv")
    first_part_ids = {
        row["transaction_id"]
        for row in decode(files["flagged/2026-11-28/part-0001.parquet"], "parquet")
    }

    def has(column, predicate):
        return sum(1 for row in review if predicate(row[column])) >= 1

    def parses(text):
        try:
            return json.loads(text)
        except ValueError:
            return "unparseable"

    assert len(review) == 55
    assert sum(row["transaction_id"] in first_part_ids for row in review) == 5
    for column in (
        "transaction_id",
        "account_id",
        "occurred_at",
        "amount",
        "currency",
        "similarity_score",
        "model_version",
    ):
        assert has(column, lambda value: value == ""), column
    assert has("occurred_at", lambda v: v and "T" in v and datetime.fromisoformat(v).tzinfo is None)
    assert has("occurred_at", lambda value: value == "last tuesday")
    assert has("amount", lambda value: value.startswith("-"))
    assert has("amount", lambda value: value == "12.345")
    assert has("amount", lambda value: value == "12,50 EUR")
    assert has("currency", lambda value: value == "XYZ")
    assert has("country", lambda value: value == "ZZ")
    assert has("country", lambda value: value == "Germany")
    assert has("similarity_score", lambda value: value == "1.7")
    assert has("similarity_score", lambda value: value == "abc")
    assert has("similarity_score", lambda value: value == "-0.2")
    assert has("outcome", lambda value: value == "maybe")
    assert has("source_ip", lambda value: value == "999.1.1.1")
    assert has(
        "embedding", lambda value: isinstance(parses(value), list) and len(parses(value)) == DIM - 1
    )
    assert has(
        "embedding",
        lambda value: (
            isinstance(parses(value), list)
            and any(isinstance(x, float) and math.isnan(x) for x in parses(value))
        ),
    )
    assert has("embedding", lambda value: parses(value) == "unparseable")
    assert has("features", lambda value: isinstance(parses(value), list))
    assert has(
        "features",
        lambda value: (
            isinstance(parses(value), dict)
            and any(isinstance(x, str) for x in parses(value).values())
        ),
    )


def test_each_bad_row_breaks_exactly_one_rule(flagged):
    template, duplicate = flagged[0], flagged[1]

    labelled = needs_review_rows([template], [duplicate])

    labels = Counter(label for label, _ in labelled)
    assert labels == Counter({"valid": 1, "duplicate": 1, **dict.fromkeys(NEEDS_REVIEW_RULES, 1)})
    for label, row in labelled:
        if label in ("valid", "duplicate"):
            continue
        changed = {
            column
            for column in CONTRACT_COLUMNS[1:]
            if not _same(row.get(column), template.get(column))
        }
        if label == "missing_transaction_id":
            assert row["transaction_id"] is None and changed == set()
        else:
            assert row["transaction_id"] != template["transaction_id"]
            assert len(changed) == 1, (label, changed)


def _same(left, right) -> bool:
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        return (
            isinstance(left, np.ndarray)
            and isinstance(right, np.ndarray)
            and left.shape == right.shape
            and np.array_equal(left, right)
        )
    return left == right


def test_write_demo_files_puts_every_object(files):
    class RecordingClient:
        def __init__(self):
            self.calls = []

        def put_object(self, **kwargs):
            self.calls.append(kwargs)

    client = RecordingClient()
    write_demo_files(client, "fraudcase-inbox", list(files.items()))

    assert [call["Key"] for call in client.calls] == list(files)
    assert {call["Bucket"] for call in client.calls} == {"fraudcase-inbox"}
    assert [call["Body"] for call in client.calls] == list(files.values())


# Curation ------------------------------------------------------------------------------------


def test_curation_has_one_record_per_ip_and_transaction(files, flagged):
    records = decode(files["curation/2026-11-28/ips-0001.jsonl.gz"], "jsonl.gz")
    by_id = {row["transaction_id"]: row for row in flagged}

    assert len(records) == sum(1 for row in flagged if row["source_ip"])
    assert len({(r["source_ip"], r["transaction_id"]) for r in records}) == len(records)
    for record in records:
        row = by_id[record["transaction_id"]]
        assert record["source_ip"] == row["source_ip"]
        assert record["account_id"] == row["account_id"]
        delay = datetime.fromisoformat(record["observed_at"]) - row["occurred_at"]
        assert timedelta(0) < delay <= timedelta(seconds=3)
        assert set(record["metadata"]) == {
            "asn",
            "isp",
            "connection_type",
            "is_vpn",
            "is_proxy",
            "is_tor",
        }
        expected_agents = COMMON_USER_AGENTS if row["_pattern"] == "normal" else ODD_USER_AGENTS
        assert record["user_agent"] in expected_agents


def test_fraud_comes_through_proxies_and_vpns_more_often(flagged):
    records = generate_curation_records(flagged, seed=11)
    patterns = {row["transaction_id"]: row["_pattern"] for row in flagged}
    hidden = defaultdict(list)
    for record in records:
        kind = "normal" if patterns[record["transaction_id"]] == "normal" else "fraud"
        hidden[kind].append(record["metadata"]["is_vpn"] or record["metadata"]["is_proxy"])

    assert np.mean(hidden["fraud"]) > np.mean(hidden["normal"]) + 0.2
