"""Writes for the investigation domain, one module per part; import from here."""

from cases.services.ingest_cases import (
    case_priority,
    cases_open_for_accounts,
    cases_refresh_priority,
)

__all__ = ["case_priority", "cases_open_for_accounts", "cases_refresh_priority"]
