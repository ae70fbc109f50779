"""What makes a single flag cheaper keeps its meaning: the chunk's tasks reach the real broker
in one batch once the block ends (and never what was rolled back), both throttles still count
and refuse, and the permissions read with a token are the role's."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import transaction

from cases import dispatch
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.test_api_intake import json_lines, post_json
from cases.tests.workflow_fixtures import make_queue, make_user
from conftest import contract_row
from fraudcase.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    make_queue("General", analyst, is_default=True)
    return {"service": make_user("flag-bot", "service")}


@pytest.fixture
def service_client(world):
    return token_client(world["service"], actor=make_user("root", "admin"))


def _waiting_task_names() -> list[str]:
    """The tasks waiting on the broker's default queue (Redis list, newest first)."""
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        messages = client.lrange(app.conf.task_default_queue, 0, -1)
    return [json.loads(message)["headers"]["task"] for message in reversed(messages)]


def test_tasks_queued_on_commit_in_a_batched_block_reach_the_broker_when_it_ends(
    django_capture_on_commit_callbacks,
):
    app.control.purge()
    with dispatch.sends_batched():
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                dispatch.queue_on_commit(dispatch.INDEX_NEW_EMBEDDINGS)
                dispatch.queue_on_commit(dispatch.ENRICH_IPS, ["192.0.2.1"])
                with pytest.raises(RuntimeError), transaction.atomic():
                    dispatch.queue_on_commit(dispatch.COMPUTE_RINGS)
                    raise RuntimeError("rolled back: its task must never be sent")
                with dispatch.sends_batched():  # nested: the outer block sends
                    dispatch.queue_on_commit(dispatch.EXPORT_LABELS)
        held_until_the_end = _waiting_task_names()

    assert held_until_the_end == []
    assert _waiting_task_names() == [
        dispatch.INDEX_NEW_EMBEDDINGS,
        dispatch.ENRICH_IPS,
        dispatch.EXPORT_LABELS,
    ]
    app.control.purge()


def test_without_a_batched_block_each_task_is_sent_as_its_transaction_commits(
    django_capture_on_commit_callbacks,
):
    app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.queue_on_commit(dispatch.INDEX_NEW_EMBEDDINGS)
    assert _waiting_task_names() == [dispatch.INDEX_NEW_EMBEDDINGS]
    app.control.purge()


def test_a_single_flag_sends_its_three_tasks_together_after_the_commit(
    world, service_client, django_capture_on_commit_callbacks
):
    app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(service_client, json_lines([contract_row(1)])[0])
    assert response.status_code == 201, response.content
    assert sorted(_waiting_task_names()) == sorted(
        [dispatch.REFRESH_NEIGHBOUR_VERDICTS, dispatch.INDEX_NEW_EMBEDDINGS, dispatch.ENRICH_IPS]
    )
    app.control.purge()


def test_both_throttles_still_count_each_request_and_refuse_past_either(
    world, service_client, monkeypatch
):
    from cases.api.throttling import PerAddressThrottle, PerTokenThrottle

    cache.clear()
    monkeypatch.setattr(PerTokenThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    monkeypatch.setattr(PerAddressThrottle, "THROTTLE_RATES", {"address": "100/minute"})

    answers = [service_client.get("/api/v1/cases/") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert_problem(answers[3], 429, "throttled")
    # Both limits were written: the address saw four requests, the token three (the refused
    # one is not counted against it).
    address_key = PerAddressThrottle.cache_format % {"scope": "address", "ident": "127.0.0.1"}
    assert len(cache.get(address_key)) == 4
    cache.clear()


def test_the_permissions_read_with_a_token_are_the_roles(world, service_client):
    from cases.accounts.tokens import api_token_for

    plain = service_client._credentials["HTTP_AUTHORIZATION"].split(" ", 1)[1]  # noqa: SLF001
    token = api_token_for(plain)
    user = token.user
    handed = set(user._perm_cache)  # noqa: SLF001

    del user._perm_cache, user._user_perm_cache, user._group_perm_cache  # noqa: SLF001
    assert handed == user.get_all_permissions() != set()
    assert user.has_perm("cases.submit_flags")


ODD_TEXTS = [
    b'{"embedding": [0.5, 0.25], "features": {"x": 1.5}}',
    b'{"embedding": [1, 0.5]}',  # an integer: json keeps it one
    b'{"embedding": [[0.5], [0.25]]}',  # nested: must stay nested
    b'{"embedding": [0.5], "merchant": "a[b"}',
    b'{"embedding": [0.5], "embedding": [0.7]}',
    b'{"a": 1, "a": 2}',
    b'{"embedding": []}',
    b'{"embedding": [1e400]}',
    b'{"embedding": [NaN, 0.5]}',
    b'{"embedding": [true, 0.5]}',
    b'{"embedding": [-0.0, 0.5]}',
    b'{"embedding": "[0.5]"}',
    b'{"a": 123456789012345678901234567890}',
    b'{"a": "\\ud800"}',
    b'\xef\xbb\xbf{"a": 1}',
    b'[{"embedding": [0.5]}, {"embedding": [0.1, "x"]}, 3, [1]]',
    b'{"a": 1}x',
    b"",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_rows_read_the_fast_way_hold_what_json_loads_gives(text):
    import numpy as np

    from cases.ingest.jsontext import json_loads, json_loads_rows

    def plain(value):  # numpy arrays as the lists json_loads gives, with each value's type
        if isinstance(value, np.ndarray):
            return [("float", number) for number in value.tolist()]
        if isinstance(value, dict):
            return {name: plain(item) for name, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return (type(value).__name__, value)

    for given in (text, text.decode("utf-8", "surrogatepass")):
        try:
            expected = ("value", plain(json_loads(given)))
        except ValueError as error:
            expected = ("error", type(error), str(error))
        try:
            got = ("value", plain(json_loads_rows(given)))
        except ValueError as error:
            got = ("error", type(error), str(error))
        assert got == expected


def test_odd_embeddings_posted_are_quarantined_with_the_contracts_reasons(
    world, service_client, settings
):
    dim = settings.FRAUDCASE_EMBEDDING_DIM
    rows = [json.loads(line) for line in json_lines([contract_row(i) for i in range(4)])]
    rows[0]["embedding"] = [[0.5]] * dim  # nested, as many leaves as the dimension
    rows[1]["embedding"] = [1] + [0.0] * (dim - 1)  # integers are numbers
    rows[2]["embedding"] = [0.5] * (dim - 1)
    rows[3]["merchant"] = "Shop [Berlin]"  # a '[' in text: the body is read the json way

    answer = post_json(service_client, json.dumps(rows).encode())

    assert answer.status_code == 201, answer.content
    outcomes = [(row["outcome"], row["reasons"]) for row in answer.json()["rows"]]
    assert outcomes == [
        ("quarantined", ["embedding must be a flat array of numbers"]),
        ("loaded", []),
        ("quarantined", [f"embedding has {dim - 1} values, expected {dim}"]),
        ("loaded", []),
    ]


def test_a_chunk_of_a_few_rows_leaves_the_planner_as_it_is():
    from cases.ingest import chunks
    from cases.tests.test_ingest import show_random_page_cost

    server_default = show_random_page_cost()
    with transaction.atomic():
        chunks._plan_for_lookups_by_key(chunks.FEW_ROWS_FOR_PLANNING - 1)
        few = show_random_page_cost()
    with transaction.atomic():
        chunks._plan_for_lookups_by_key(chunks.FEW_ROWS_FOR_PLANNING)
        many = show_random_page_cost()

    assert (few, many) == (server_default, "1.1")
