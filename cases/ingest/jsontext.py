"""JSON text from input files and the intake API, parsed fast."""

from __future__ import annotations

import json
import threading

import numpy as np
import orjson
import simdjson

# The contract's one array column: read straight into numpy when that is exact (see below).
VECTOR_FIELD = "embedding"


def json_loads(text: str):
    """json.loads, through orjson first: parsing a 384-value embedding is ~10x faster there.

    Text orjson refuses goes to json.loads, which decides as before (it also reads NaN and
    Infinity, refused later as non-finite, and gives the error message).
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def json_loads_rows(text: str | bytes):
    """json_loads, except that each object's "embedding" (at the top level or in a top-level
    array) may come back as a float64 numpy array instead of a list of floats.

    The same values either way; what validation then decides and says is the same. Reading
    384 numbers into Python floats and those into numpy was about half of a 1,000-row batch's
    parsing and validation; simdjson copies them into one buffer. The fast way is taken only
    where it cannot differ from json_loads: any text simdjson refuses (NaN, big integers, bad
    text...), duplicate keys, a '[' anywhere but at the start of the body and of each
    embedding (so no embedding is nested: simdjson would flatten it), an embedding with an
    integral value (JSON may have written it as an integer, which numpy keeps as one) go the
    json_loads way, for the whole text or that embedding.
    """
    if isinstance(text, str) and text.startswith("\ufeff"):
        return json_loads(text)  # simdjson skips a BOM; json.loads refuses one in text
    try:
        document = _parser_for(text).parse(text)
    except (ValueError, RuntimeError, TypeError):
        _reused.parser = None  # a parser still referenced (RuntimeError) is not reused
        return json_loads(text)
    if isinstance(document, simdjson.Object):
        rows, top_brackets = [document], 0
    elif isinstance(document, simdjson.Array):
        rows, top_brackets = list(document), 1
    else:
        return document
    with_vectors = [row for row in rows if isinstance(row, simdjson.Object)]
    if sum(isinstance(row.get(VECTOR_FIELD), simdjson.Array) for row in with_vectors) != (
        _count(text, "[") - top_brackets
    ):
        return json_loads(text)  # a '[' in a string or a nested array somewhere: no shortcut
    parsed = []
    for row in rows:
        if not isinstance(row, simdjson.Object):
            parsed.append(_python(row))
            continue
        names = list(row.keys())
        if len(set(names)) != len(names):
            return json_loads(text)  # duplicate keys: json's rule (the last wins) decides
        parsed.append(
            {
                name: _vector(row[name]) if name == VECTOR_FIELD else _python(row[name])
                for name in names
            }
        )
    return parsed if top_brackets else parsed[0]


# A parser keeps the buffers of the largest text it read: reused (per thread) for lines and
# single flags, where making one per text was a third of the parse; a new one for big bodies.
REUSED_PARSER_MAX_CHARS = 1 << 16
_reused = threading.local()


def _parser_for(text: str | bytes) -> simdjson.Parser:
    if len(text) > REUSED_PARSER_MAX_CHARS:
        return simdjson.Parser()
    parser = getattr(_reused, "parser", None)
    if parser is None:
        parser = _reused.parser = simdjson.Parser()
    return parser


def _count(text: str | bytes, character: str) -> int:
    return text.count(character if isinstance(text, str) else character.encode())


def _python(value):
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _vector(value):
    if not isinstance(value, simdjson.Array):
        return _python(value)
    try:
        vector = np.frombuffer(value.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError):  # not all numbers
        return value.as_list()
    if len(vector) != len(value) or not len(vector) or (vector == np.trunc(vector)).any():
        return value.as_list()
    return vector
