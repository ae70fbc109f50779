"""The feature dictionary: the detector's feature names in words (name, description, unit, how
to read a value), from a TOML file the operator edits (FRAUDCASE_FEATURE_DICTIONARY_PATH; the
default, next to this module, describes the demo's features). Its header documents the format.

The file is read again when its modification time or size changes, so an edit shows without a
restart. A file that does not parse or lacks a required field is a system check error
(fraudcase.E020) naming the problem; pages never guess around a broken file.
"""

from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

DEFAULT_PATH = Path(__file__).with_name("feature_dictionary.toml")
REQUIRED = ("name", "description")
TEXT_FIELDS = ("name", "description", "unit", "reading", "higher", "lower")


@dataclass(frozen=True, slots=True)
class FeatureEntry:
    key: str
    name: str
    description: str
    unit: str = ""
    reading: str = ""
    higher: str = "higher"
    lower: str = "lower"


def dictionary_path() -> Path:
    configured = getattr(settings, "FRAUDCASE_FEATURE_DICTIONARY_PATH", "")
    return Path(configured) if configured else DEFAULT_PATH


def parse_feature_dictionary(
    text: str, *, source: str = "the feature dictionary"
) -> dict[str, FeatureEntry]:
    """The entries of a dictionary file's text; ImproperlyConfigured naming the problem."""
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ImproperlyConfigured(f"{source} is not valid TOML: {error}") from error
    entries = {}
    for key, table in tables.items():
        if not isinstance(table, dict):
            raise ImproperlyConfigured(f"{source}: {key!r} must be a table ([{key}]), not a value")
        missing = [field for field in REQUIRED if not str(table.get(field, "")).strip()]
        if missing:
            raise ImproperlyConfigured(f"{source}: [{key}] lacks {', '.join(missing)}")
        unknown = sorted(set(table) - set(TEXT_FIELDS))
        if unknown:
            raise ImproperlyConfigured(
                f"{source}: [{key}] has unknown fields {', '.join(unknown)} "
                f"(allowed: {', '.join(TEXT_FIELDS)})"
            )
        values = {field: str(table[field]).strip() for field in TEXT_FIELDS if field in table}
        entries[key] = FeatureEntry(key=key, **values)
    return entries


_cache: dict[tuple[str, int, int], dict[str, FeatureEntry]] = {}
_lock = threading.Lock()


def feature_dictionary() -> dict[str, FeatureEntry]:
    """The configured dictionary, by feature key (ImproperlyConfigured if it cannot be read)."""
    path = dictionary_path()
    try:
        stat = path.stat()
    except OSError as error:
        raise ImproperlyConfigured(
            f"the feature dictionary {path} cannot be read: {error}"
        ) from error
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _lock:
        entries = _cache.get(key)
    if entries is None:
        entries = parse_feature_dictionary(path.read_text(encoding="utf-8"), source=str(path))
        with _lock:
            _cache.clear()
            _cache[key] = entries
    return entries


def feature_entry(key: str) -> FeatureEntry | None:
    return feature_dictionary().get(key)


@register()
def check_feature_dictionary(app_configs=None, **kwargs) -> list[Error]:
    try:
        feature_dictionary()
    except ImproperlyConfigured as error:
        return [
            Error(
                str(error),
                hint="Fix the file, or set FRAUDCASE_FEATURE_DICTIONARY_PATH to a valid one "
                "(the format is described at the top of cases/casefile/feature_dictionary.toml).",
                id="fraudcase.E020",
            )
        ]
    return []
