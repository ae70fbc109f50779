"""Values exactly on the input contract's edges are accepted (found by mutation testing).

test_validation.py refuses one step past each edge; these accept the edge itself, so a `<=`
turned into `<` (or a limit moved by one) fails here. See docs/testing.md.
"""

from decimal import Decimal

import pytest

from cases.ingest.contract import MAX_AMOUNT_EXCLUSIVE, MAX_LENGTHS
from cases.ingest.validation import validate_row
from conftest import contract_row

DIM = 384

EDGES = [
    ({"similarity_score": 0.0}, "similarity_score", 0.0),
    ({"similarity_score": 1.0}, "similarity_score", 1.0),
    ({"similarity_score": "0"}, "similarity_score", 0.0),
    ({"amount": "0.00"}, "amount", Decimal("0.00")),
    ({"amount": str(MAX_AMOUNT_EXCLUSIVE - Decimal("0.01"))}, "amount",
     Decimal("9999999999999999.99")),
    *[({name: "x" * limit}, name, "x" * limit) for name, limit in MAX_LENGTHS.items()],
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "field", "value"), EDGES, ids=lambda p: str(p)[:40])
def test_a_value_on_the_edge_of_the_contract_is_accepted(overrides, field, value):
    clean, reasons = validate_row(contract_row(1, **overrides), embedding_dim=DIM)

    assert reasons == []
    assert getattr(clean, field) == value


@pytest.mark.parametrize("name", sorted(MAX_LENGTHS))
def test_one_character_past_a_length_limit_is_refused(name):
    limit = MAX_LENGTHS[name]

    clean, reasons = validate_row(contract_row(1, **{name: "x" * (limit + 1)}), embedding_dim=DIM)

    assert clean is None
    assert reasons == [f"{name} is longer than {limit} characters"]
