"""The overview and ingest pages: sign-in required, figures right, S3-sourced text escaped."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import Case, IngestRun
from cases.tests.link_fixtures import tx
from cases.tests.workflow_fixtures import make_queue, make_user
from conftest import contract_row, put_file, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst_client(client):
    """A lead's session (reads every case; the name is historical)."""
    signed_in(client, make_user("lea", "lead"))
    return client


def test_a_user_without_a_role_gets_403_and_no_ids(client):
    Case.objects.create(account_id="acc-secret")
    client.force_login(get_user_model().objects.create_user("nobody", password="x-long-pass"))

    for name in ("overview", "ingest-runs"):
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert "acc-secret" not in response.content.decode()


def test_an_analyst_overview_lists_only_the_cases_she_may_read(client):
    analyst = make_user("ana", "analyst")
    mine = Case.objects.create(
        account_id="acc-mine", queue=make_queue("Mine", analyst), priority=10
    )
    theirs = Case.objects.create(account_id="acc-theirs", queue=make_queue("Theirs"), priority=90)
    tx("acc-mine", case=mine)
    tx("acc-theirs", case=theirs)
    client.force_login(analyst)

    page = client.get(reverse("overview")).content.decode()

    assert "acc-mine" in page and "acc-theirs" not in page
    assert '<span class="figure">1</span> open cases' in page


def test_pages_require_sign_in(client):
    for name in ("home", "ingest-runs"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert client.get(reverse("login")).status_code == 200


def test_empty_overview_says_how_to_ingest(analyst_client):
    page = analyst_client.get(reverse("overview")).content.decode()

    assert "No transactions yet" in page
    assert "python manage.py ingest s3://bucket/prefix" in page


def test_overview_shows_counts_cases_and_runs_with_text_from_s3_escaped(analyst_client, s3, bucket):
    rows = [contract_row(i, account_id="<script>alert(1)</script>") for i in range(3)]
    rows.append(contract_row(9, amount="-1.00"))
    put_file(s3, bucket, "flagged/<b>x</b>.csv", encode_rows(rows, "csv"))
    for run_id in ingest_services.inbox_scan(bucket=bucket):
        ingest_services.ingest_run_execute(run_id=run_id)

    page = analyst_client.get(reverse("overview")).content.decode()

    assert '<span class="figure">3</span> flagged transactions' in page
    assert '<span class="figure">1</span> quarantined rows' in page
    assert '<span class="figure">1</span> open cases' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "&lt;b&gt;x&lt;/b&gt;.csv" in page


def test_ingest_page_refreshes_only_while_a_run_is_unfinished(analyst_client):
    run = IngestRun.objects.create(
        bucket="b", key="flagged/a.csv", etag="e1", size_bytes=1000, bytes_read=250
    )
    run.status = IngestRun.Status.RUNNING
    run.save()

    running = analyst_client.get(reverse("ingest-runs")).content.decode()
    IngestRun.objects.filter(pk=run.pk).update(status=IngestRun.Status.SUCCEEDED)
    finished = analyst_client.get(reverse("ingest-runs")).content.decode()

    assert 'http-equiv="refresh"' in running and 'value="25"' in running
    assert 'http-equiv="refresh"' not in finished and 'value="100"' in finished
