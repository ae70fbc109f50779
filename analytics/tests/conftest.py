"""The analytics tests' shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _shared_cache_empty():
    """Each test starts with an empty shared cache: cached figures (the operations page's, the
    IP map's) of an earlier test's rows, rolled back since, are not served to the next test."""
    from django.core.cache import cache

    cache.clear()
