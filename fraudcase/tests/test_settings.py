import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def test_debug_off_without_a_secret_key_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DEBUG="false", DJANGO_SETTINGS_MODULE="fraudcase.settings")

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


@pytest.mark.django_db
def test_debug_off_with_a_secret_key_and_the_urls_starts(tmp_path):
    env = subprocess_env(DEBUG="false", SECRET_KEY="a-real-secret-for-this-test")

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
