"""Production defaults fail closed, and request hygiene: server-made request ids, client IPs
from trusted proxies only, a Content-Security-Policy and no-store on every page, a JSON cache."""

import os
import pickle
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.templatetags.static import static
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from analytics.selectors import IpMap, IpMapFilters, IpPoint
from cases.audit.client_ip import client_ip
from cases.casefile.explain import PopulationStats
from cases.models import AuditEvent
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services
from conftest import client_for, subprocess_env
from fraudcase.cache import CacheSerializationError, JsonSerializer

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STRONG_SECRET = "k3Jx9-vQ2mZt7wLr4Yp8Hs6Nd1Fb5Gc0Ue_Ai2Oq7Tz4Wx9Ry3Lm6Pk8Sv1Dn5Jh"


# --- Request id and client IP --------------------------------------------------------------


@pytest.mark.django_db
def test_the_server_makes_the_request_id_and_keeps_the_clients_apart():
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst, is_default=True)
    case = make_case(queue)
    client = client_for(analyst)

    response = client.post(
        reverse("case-assign-to-me", args=[case.reference]),
        {"version": case.version},
        HTTP_X_REQUEST_ID="client-chosen-id-0001",
    )

    assert response.status_code in (200, 302)
    server_id = response["X-Request-ID"]
    assert len(server_id) == 32 and server_id != "client-chosen-id-0001"
    event = AuditEvent.objects.get(action="case_assigned")
    assert event.request_id == server_id
    assert event.client_request_id == "client-chosen-id-0001"


def test_each_response_carries_a_fresh_server_request_id():
    client = Client()
    first = client.get("/auth/login/", HTTP_X_REQUEST_ID="same")
    second = client.get("/auth/login/", HTTP_X_REQUEST_ID="same")
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert "same" not in (first["X-Request-ID"], second["X-Request-ID"])


def _request(remote_addr: str, forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


@override_settings(FRAUDCASE_TRUSTED_PROXY_COUNT=0)
def test_without_trusted_proxies_a_forwarded_for_header_is_ignored():
    assert client_ip(_request("203.0.113.9", "198.51.100.66")) == "203.0.113.9"
    assert client_ip(_request("203.0.113.9")) == "203.0.113.9"
    assert client_ip(_request("")) is None


@override_settings(FRAUDCASE_TRUSTED_PROXY_COUNT=1)
def test_one_trusted_proxy_takes_the_rightmost_forwarded_address():
    # The client wrote 198.51.100.66 itself; our proxy appended the address it saw.
    request = _request("10.0.0.2", "198.51.100.66, 203.0.113.9")
    assert client_ip(request) == "203.0.113.9"


@override_settings(FRAUDCASE_TRUSTED_PROXY_COUNT=2)
def test_two_trusted_proxies_take_the_second_address_from_the_right():
    request = _request("10.0.0.3", "1.1.1.1,198.51.100.66, 2001:DB8::7 , 10.0.0.2")
    assert client_ip(request) == "2001:db8::7"
    # Fewer entries than our proxies write: it did not come our way, only the peer is known.
    assert client_ip(_request("10.0.0.3", "198.51.100.66")) == "10.0.0.3"
    # Garbage where our proxy's entry should be: the peer, never the garbage.
    assert client_ip(_request("10.0.0.3", "1.1.1.1, not-an-ip, 10.0.0.2")) == "10.0.0.3"


@pytest.mark.django_db
@override_settings(FRAUDCASE_TRUSTED_PROXY_COUNT=0)
def test_a_spoofed_forwarded_for_never_reaches_the_audit_trail():
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst, is_default=True)
    case = make_case(queue)

    client_for(analyst).post(
        reverse("case-assign-to-me", args=[case.reference]),
        {"version": case.version},
        HTTP_X_FORWARDED_FOR="198.51.100.66",
        REMOTE_ADDR="203.0.113.9",
    )

    event = AuditEvent.objects.get(action="case_assigned")
    assert str(event.client_ip) == "203.0.113.9"


# --- Every page keeps the Content-Security-Policy; case data is never cached ---------------

EXPECTED_CSP = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
}


def assert_strict_csp(response) -> None:
    policy = response.get("Content-Security-Policy", "")
    directives = {part.strip() for part in policy.split(";")}
    assert directives >= EXPECTED_CSP, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.fixture
def workspace(bucket, settings):
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    admin = make_user("adm", "admin")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    queue = make_queue("General", admin, is_default=True)
    case = make_case(queue)
    attachment = services.case_attach_file(
        actor=admin, case_id=case.pk, filename="call.txt", content=b"denies it\n",
        content_type="text/plain",
    )  # fmt: skip
    return client_for(admin), case, attachment


MAIN_PAGES = [
    "/", "/overview/", "/ingest/", "/audit/", "/labels/held/", "/rings/", "/analytics/ip-map/",
    "/admin/",
]  # fmt: skip


@pytest.mark.django_db
def test_every_main_page_has_the_csp_and_no_store(workspace):
    client, case, _ = workspace
    ip = case.transactions.first().source_ip
    for path in [*MAIN_PAGES, f"/cases/{case.reference}/", f"/ips/{ip}/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict_csp(response)
        assert "no-store" in response["Cache-Control"], path


@pytest.mark.django_db
def test_the_sign_in_page_has_the_csp():
    response = Client().get("/auth/login/")
    assert response.status_code == 200
    assert_strict_csp(response)


@pytest.mark.django_db
def test_downloads_of_case_data_are_never_stored(workspace):
    client, case, attachment = workspace
    downloads = [
        f"/cases/{case.reference}/export.csv",
        f"/cases/{case.reference}/report.pdf",
        f"/cases/{case.reference}/attachments/{attachment.pk}/",
        "/audit/export.csv?start=2026-01-01&end=2026-12-31",
    ]
    for path in downloads:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path
        assert response["X-Request-ID"]


@pytest.mark.django_db
def test_static_files_stay_cacheable_for_a_signed_in_user():
    client = client_for(make_user("ana", "analyst"))
    response = client.get(static("css/fraudcase.css"))
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# --- The cache: its own Redis database, JSON only ------------------------------------------


def test_the_cache_lives_in_another_redis_database_than_the_broker():
    location = settings.CACHES["default"]["LOCATION"]
    assert settings.CACHES["default"]["OPTIONS"]["serializer"] == "fraudcase.cache.JsonSerializer"
    assert location != settings.CELERY_BROKER_URL
    assert location.endswith("?db=1")  # the embedded broker uses database 0


def test_cache_url_defaults_to_the_brokers_server_and_the_next_database():
    from fraudcase.settings import _cache_url

    assert _cache_url("redis://:s3cret@redis:6379/0") == "redis://:s3cret@redis:6379/1"
    assert _cache_url("redis://redis:6379") == "redis://redis:6379/1"
    assert _cache_url("rediss://h:6380/2?ssl_cert_reqs=required") == (
        "rediss://h:6380/3?ssl_cert_reqs=required"
    )
    assert _cache_url("redis+socket:///tmp/r.sock") == "unix:///tmp/r.sock?db=1"
    assert _cache_url("amqp://rabbit//") == ""


def test_cached_values_round_trip_through_json():
    ip_map = IpMap(
        filters=IpMapFilters(since=date(2026, 11, 1), until=date(2026, 11, 30), score_min=0.9),
        max_points=10,
        points=[IpPoint(ip="8.8.8.8", transactions=3, fraud=1, labelled=2, sample_accounts=["a"])],
        unplaced=[],
        public_ips=1, public_transactions=3, special_ips=0, special_transactions=0,
        unlocated_shown=0, computed_at=datetime(2026, 11, 30, 12, 5, tzinfo=UTC),
    )  # fmt: skip
    values = {
        "fraudcase-test:map": ip_map,
        "fraudcase-test:stats": {
            "amount_z": PopulationStats(p5=-1.5, median=0.1, p95=2.0, count=9)
        },
        "fraudcase-test:mixed": {"amount": Decimal("12.50"), "pair": (1, "x"), "none": None},
        "fraudcase-test:count": 41,
    }
    for key, value in values.items():
        cache.set(key, value, 30)

    for key, value in values.items():
        assert cache.get(key) == value, key
    assert cache.incr("fraudcase-test:count") == 42
    raw = cache._cache.get_client("fraudcase-test:map").get(
        cache.make_and_validate_key("fraudcase-test:map")
    )
    assert raw.startswith(b"{") and b"pickle" not in raw  # stored as JSON text


def test_the_cache_refuses_types_it_does_not_know():
    with pytest.raises(CacheSerializationError):
        cache.set("fraudcase-test:object", object(), 30)
    with pytest.raises(CacheSerializationError):
        JsonSerializer().loads(b'{"__fc__":"dataclass","type":"os.PathLike","fields":{}}')


class _Exploit:
    marker = None

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_the_cache_refuses_to_unpickle(tmp_path):
    marker = tmp_path / "pwned"
    _Exploit.marker = marker
    payload = pickle.dumps(_Exploit())
    key = cache.make_and_validate_key("fraudcase-test:poisoned")
    cache._cache.get_client(key, write=True).set(key, payload)

    with pytest.raises(ValueError):  # JSONDecodeError or UnicodeDecodeError: data, not code
        cache.get("fraudcase-test:poisoned")
    assert not marker.exists()
    cache.delete("fraudcase-test:poisoned")


# --- Production defaults fail closed (subprocesses: settings are read at start) ------------


def production_env(**extra: str) -> dict[str, str]:
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="fraudcase.settings",
        DEBUG="false",
        SECRET_KEY=STRONG_SECRET,
        ALLOWED_HOSTS="fraudcase.example.org",
    )
    for name in list(env):  # nothing relaxed from the developer's shell or the test harness
        if name.startswith(("SECURE_", "SESSION_COOKIE_", "CSRF_COOKIE_")):
            del env[name]
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # conftest's, for Playwright only
    env.update(extra)
    return env


@pytest.mark.slow
@pytest.mark.django_db
def test_check_deploy_reports_nothing_with_debug_off():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=production_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing silenced: the lockout now counts (username, address) pairs and addresses.
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.slow
def test_debug_is_off_unless_set():
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    env.update(DJANGO_SETTINGS_MODULE="fraudcase.settings", SECRET_KEY=STRONG_SECRET)
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Off, so the unset database URL is an error rather than an embedded server.
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr.splitlines()[-1]


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize(
    "missing", ["DATABASE_URL", "CELERY_BROKER_URL", "FRAUDCASE_S3_ENDPOINT_URL"]
)
def test_debug_off_with_a_url_unset_refuses_to_start_naming_it(tmp_path, missing):
    env = production_env(FRAUDCASE_VAR_DIR=str(tmp_path / "var"))
    del env[missing]

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: " + missing)
    assert not (tmp_path / "var").exists()  # no embedded server was started
