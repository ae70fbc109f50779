"""The OpenAPI contract in the repository (docs/openapi.yaml) is the one the code serves, and
Swagger UI works under the site's CSP from local files only."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command

CONTRACT = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
REGENERATE = "DEBUG=true python manage.py spectacular --file docs/openapi.yaml"


def test_the_committed_contract_is_the_served_schema():
    generated = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=generated)

    assert generated.getvalue() == CONTRACT.read_text(), (
        f"docs/openapi.yaml is out of date: regenerate it with `{REGENERATE}` and commit it"
    )


@pytest.mark.django_db
def test_swagger_ui_loads_local_files_only_under_the_csp(client):
    page = client.get("/api/v1/docs/")
    init_script = client.get("/api/v1/docs/?script")

    assert page.status_code == 200 and init_script.status_code == 200
    html = page.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(
        url.startswith("/static/") or url == "/api/v1/docs/?script=" for url in urls
    ), urls
    assert "http://" not in html and "https://" not in html
    assert "<style" not in html and not re.search(r"<script>\s*\S", html), "inline code"
    assert "/api/v1/schema/" in init_script.content.decode()
    policy = dict(
        directive.strip().split(" ", 1) for directive in page["Content-Security-Policy"].split(";")
    )
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'", (directive, policy[directive])
    static_files = [
        url.removeprefix(settings.STATIC_URL) for url in urls if url.startswith("/static/")
    ]
    assert all(finders.find(path) for path in static_files), "shipped with the sidecar"
