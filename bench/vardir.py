"""The benchmarks' own folders for embedded servers: never the development var/, and only
ever wiped when a benchmark made them (a marker file says which)."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def prepare_var_dir(var_dir: Path, *, marker: str, made_by: str, reuse: bool = False) -> None:
    """Start from empty servers: stop and wipe a folder this benchmark made earlier, or (reuse)
    keep it as it is."""
    from fraudcase import embedded

    if var_dir.resolve() == (BASE_DIR / "var").resolve():
        sys.exit(f"refusing to use the development var dir {var_dir} for the benchmark")
    if var_dir.exists() and any(var_dir.iterdir()):
        if not (var_dir / marker).exists():
            sys.exit(f"{var_dir} holds something this benchmark did not make; pick another")
        if reuse:
            return
        embedded.stop_all(var_dir)
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / marker).write_text(f"made by {made_by}; its next run wipes it (unless --reuse)\n")


def use_own_servers(var_dir: Path, *, production_like: bool = True) -> None:
    """Point Django at this benchmark's embedded servers under var_dir, whatever the shell's
    DATABASE_URL, CELERY_BROKER_URL or S3 endpoint say. production_like: DEBUG off (with DEBUG
    on Django keeps and formats the SQL of every query, which production does not pay for)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "fraudcase.settings"
    os.environ["FRAUDCASE_VAR_DIR"] = str(var_dir.resolve())
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "FRAUDCASE_S3_ENDPOINT_URL"):
        os.environ.pop(name, None)
    if production_like:
        # With DEBUG off settings start no embedded server: start them here and name them.
        from fraudcase import embedded

        var_dir = var_dir.resolve()
        os.environ["DATABASE_URL"] = embedded.postgres_url(var_dir)
        os.environ["CELERY_BROKER_URL"] = embedded.redis_url(var_dir)
        os.environ["FRAUDCASE_S3_ENDPOINT_URL"] = embedded.s3_endpoint_url(var_dir)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "fraudcase-dev")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fraudcase-dev")
        os.environ["DEBUG"] = "false"
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
        os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the benchmarks speak plain HTTP
    else:
        os.environ["DEBUG"] = "true"
