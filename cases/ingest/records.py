"""What the readers hand on: one source row before validation, or a file that cannot be read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message says why, for the operator."""


@dataclass(slots=True)
class SourceRecord:
    """One row of a source file before validation.

    raw is the row's text as it stood in the file (CSV, JSONL); for Parquet it is built on
    demand, since most rows are never quarantined.
    """

    row_number: int
    values: dict | None
    raw: str | None = None
    errors: list[str] = field(default_factory=list)
    # Uncompressed CSV and JSON Lines: the byte offset just after this row and the lines up
    # to it, where a run interrupted after this row resumes (a ranged GET from there).
    resume_offset: int | None = None
    resume_line: int | None = None

    def raw_text(self) -> str:
        if self.raw is None:
            self.raw = json.dumps(self.values, default=_json_default, ensure_ascii=False)
        return self.raw


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
