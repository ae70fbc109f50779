"""JSON for Django's Redis cache instead of pickle: a value read back from Redis is data, never
code (unpickling what someone wrote into Redis runs whatever they chose).

Plain JSON values pass as they are. Dates, datetimes, decimals, tuples and the dataclasses
named in settings.FRAUDCASE_CACHE_DATACLASSES are tagged and rebuilt exactly; any other type is
refused when stored, so a new cached type is added there on purpose.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

_TAG = "__fc__"


class CacheSerializationError(TypeError):
    """A value the cache does not know how to store as JSON."""


@cache
def _dataclasses_by_name() -> dict[str, type]:
    classes = {path: import_string(path) for path in settings.FRAUDCASE_CACHE_DATACLASSES}
    for path, cls in classes.items():
        if not dataclasses.is_dataclass(cls):
            raise CacheSerializationError(f"{path} in FRAUDCASE_CACHE_DATACLASSES is no dataclass")
    return classes


def _name_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _tagged(value):
    """value as JSON-ready data, with the non-JSON types tagged."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [_tagged(item) for item in value]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CacheSerializationError("cached dicts need string keys")
        if _TAG in value:
            raise CacheSerializationError(f"{_TAG!r} is reserved in cached dicts")
        return {key: _tagged(item) for key, item in value.items()}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "value": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = _name_of(type(value))
        if _dataclasses_by_name().get(name) is not type(value):
            raise CacheSerializationError(
                f"{name} is not in FRAUDCASE_CACHE_DATACLASSES: add it to cache it"
            )
        fields = {
            field.name: _tagged(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
        return {_TAG: "dataclass", "type": name, "fields": fields}
    raise CacheSerializationError(f"the cache stores JSON values, not {type(value).__name__}")


def _untagged(data: dict):
    tag = data.get(_TAG)
    if tag is None:
        return data
    if tag == "tuple":
        return tuple(data["items"])
    if tag == "datetime":
        return datetime.fromisoformat(data["value"])
    if tag == "date":
        return date.fromisoformat(data["value"])
    if tag == "decimal":
        return Decimal(data["value"])
    if tag == "dataclass":
        cls = _dataclasses_by_name().get(data["type"])
        if cls is None:
            raise CacheSerializationError(f"{data['type']} is not a cacheable dataclass")
        init_fields = {field.name for field in dataclasses.fields(cls) if field.init}
        instance = cls(**{k: v for k, v in data["fields"].items() if k in init_fields})
        for name, field_value in data["fields"].items():
            if name not in init_fields:
                setattr(instance, name, field_value)
        return instance
    raise CacheSerializationError(f"unknown cached type {tag!r}")


class JsonSerializer:
    """OPTIONS["serializer"] of django.core.cache.backends.redis.RedisCache."""

    def dumps(self, value) -> bytes | int:
        # Integers stay plain so incr() and decr() work on them, as in Django's own serializer.
        if type(value) is int:
            return value
        return json.dumps(_tagged(value), separators=(",", ":")).encode()

    def loads(self, data: bytes):
        try:
            return int(data)
        except ValueError:
            return json.loads(data, object_hook=_untagged)
