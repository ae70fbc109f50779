"""Lay the demo data out as the S3 inbox expects it: every format, plus a file of rows that
ingest has to quarantine, plus the curation records and a shadow model's scores.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from cases.fileformats import encode_rows

PART_FORMATS = ("parquet", "csv.gz", "jsonl.gz", "csv", "jsonl")
NEEDS_REVIEW_GOOD_ROWS = 25
NEEDS_REVIEW_DUPLICATES = 5
CONTENT_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "gz": "application/gzip",
}

# Each rule breaks exactly one line of the contract; the name says which.
NEEDS_REVIEW_RULES = (
    "missing_transaction_id",
    "missing_account_id",
    "missing_occurred_at",
    "naive_occurred_at",
    "unparseable_occurred_at",
    "missing_amount",
    "negative_amount",
    "three_decimal_amount",
    "non_numeric_amount",
    "unknown_currency",
    "missing_currency",
    "unknown_country",
    "country_not_alpha2",
    "score_above_one",
    "score_not_a_number",
    "negative_score",
    "missing_similarity_score",
    "missing_model_version",
    "unknown_outcome",
    "invalid_source_ip",
    "embedding_wrong_length",
    "embedding_with_nan",
    "embedding_not_json",
    "features_not_an_object",
    "features_string_value",
)


def demo_files(
    rows: Sequence[dict],
    curation: Sequence[dict],
    *,
    prefix_date: str,
    shadow: Sequence[dict] = (),
):
    """(key, bytes) pairs: five parts in every format, one needs-review CSV, the curation,
    and the shadow scores when there are any.

    A few rows spread over the period go to the needs-review file as its good rows; the rest
    are split in time order, as evenly as possible, over part-0001 .. part-0005.
    """
    rows = list(rows)
    good_count = min(NEEDS_REVIEW_GOOD_ROWS, len(rows) // 10)
    review_positions = (
        set(np.linspace(0, len(rows) - 1, good_count).astype(int).tolist()) if good_count else set()
    )
    review_good = [row for position, row in enumerate(rows) if position in review_positions]
    remaining = [row for position, row in enumerate(rows) if position not in review_positions]

    parts = [
        [remaining[position] for position in positions]
        for positions in np.array_split(np.arange(len(remaining)), len(PART_FORMATS))
    ]
    files = [
        (f"flagged/{prefix_date}/part-{number:04d}.{fmt}", encode_rows(part_rows, fmt))
        for number, (fmt, part_rows) in enumerate(zip(PART_FORMATS, parts, strict=True), start=1)
    ]
    first_part = parts[0]
    step = max(1, len(first_part) // NEEDS_REVIEW_DUPLICATES)
    duplicates = first_part[::step][:NEEDS_REVIEW_DUPLICATES]
    review = needs_review_rows(review_good, duplicates)
    files.append(
        (
            f"flagged/{prefix_date}/part-0006-needs-review.csv",
            encode_rows([row for _, row in review], "csv"),
        )
    )
    files.append((f"curation/{prefix_date}/ips-0001.jsonl.gz", encode_rows(curation, "jsonl.gz")))
    if shadow:
        files.append(
            (f"shadow/{prefix_date}/scores-0001.jsonl.gz", encode_rows(shadow, "jsonl.gz"))
        )
    return files


def write_demo_files(s3_client, bucket: str, files: Sequence[tuple[str, bytes]]) -> None:
    """Upload each (key, bytes) with put_object through the caller's boto3 client."""
    for key, body in files:
        extension = "gz" if key.endswith(".gz") else key.rsplit(".", 1)[-1]
        s3_client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=CONTENT_TYPES.get(extension, "application/octet-stream"),
        )


def needs_review_rows(good: Sequence[dict], duplicates: Sequence[dict]) -> list[tuple[str, dict]]:
    """(expectation, row) pairs: "valid", "duplicate", or the NEEDS_REVIEW_RULES name broken.

    Bad rows are copies of good ones with fresh ids, so each breaks one rule and no other;
    they are interleaved with the good rows and the duplicates the way a bad export looks.
    """
    if not good:
        return [("duplicate", dict(row)) for row in duplicates]
    broken = [
        (rule, _break(rule, good[index % len(good)]))
        for index, rule in enumerate(NEEDS_REVIEW_RULES)
    ]
    valid = [("valid", row) for row in good]
    repeated = [("duplicate", dict(row)) for row in duplicates]
    mixed: list[tuple[str, dict]] = []
    for index in range(max(len(valid), len(broken))):
        mixed += valid[index : index + 1] + broken[index : index + 1]
        if index % 5 == 4 and repeated:
            mixed.append(repeated.pop(0))
    return mixed + repeated


def _break(rule: str, template: dict) -> dict:
    row = {key: value for key, value in template.items() if key != "embedding"}
    row["embedding"] = (
        None if template.get("embedding") is None else np.array(template["embedding"])
    )
    row["features"] = copy.deepcopy(template.get("features"))
    digest = hashlib.sha256(f"needs-review|{rule}|{template.get('transaction_id')}".encode())
    row["transaction_id"] = "tx_" + digest.hexdigest()[:16]
    embedding = row["embedding"] if row["embedding"] is not None else np.zeros(384, np.float32)
    occurred_at = row["occurred_at"]
    changes = {
        "missing_transaction_id": {"transaction_id": None},
        "missing_account_id": {"account_id": None},
        "missing_occurred_at": {"occurred_at": None},
        "naive_occurred_at": {"occurred_at": occurred_at.replace(tzinfo=None)},
        "unparseable_occurred_at": {"occurred_at": "last tuesday"},
        "missing_amount": {"amount": None},
        "negative_amount": {"amount": -abs(row["amount"]) or Decimal("-12.50")},
        "three_decimal_amount": {"amount": Decimal("12.345")},
        "non_numeric_amount": {"amount": "12,50 EUR"},
        "unknown_currency": {"currency": "XYZ"},
        "missing_currency": {"currency": None},
        "unknown_country": {"country": "ZZ"},
        "country_not_alpha2": {"country": "Germany"},
        "score_above_one": {"similarity_score": 1.7},
        "score_not_a_number": {"similarity_score": "abc"},
        "negative_score": {"similarity_score": -0.2},
        "missing_similarity_score": {"similarity_score": None},
        "missing_model_version": {"model_version": None},
        "unknown_outcome": {"outcome": "maybe"},
        "invalid_source_ip": {"source_ip": "999.1.1.1"},
        "embedding_wrong_length": {"embedding": embedding[:-1].copy()},
        "embedding_with_nan": {"embedding": _with_nan(embedding)},
        "embedding_not_json": {"embedding": "[0.12, 0.5"},
        "features_not_an_object": {"features": [0.5, 1.25]},
        "features_string_value": {"features": {**(row["features"] or {}), "log_amount": "high"}},
    }
    row.update(changes[rule])
    return row


def _with_nan(embedding: np.ndarray) -> np.ndarray:
    broken = np.array(embedding, dtype=np.float32)
    broken[min(7, len(broken) - 1)] = np.nan
    return broken
