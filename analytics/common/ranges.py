"""The time range every dashboard takes: from, to (inclusive days), and quick picks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from cases.dateranges import DayField, form_check_order

LONGEST_RANGE_DAYS = 731  # bounded work: a dashboard covers at most two years
DEFAULT_DAYS = 30
QUICK_PICKS = (7, 30, 90, 365)


@dataclass(frozen=True)
class DayRange:
    since: date
    until: date  # inclusive

    @classmethod
    def last(cls, days: int, *, until: date | None = None) -> DayRange:
        until = until or timezone.localdate()
        return cls(since=until - timedelta(days=days - 1), until=until)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def moments(self) -> tuple[datetime, datetime]:
        """[start, end) in the current time zone."""
        zone = timezone.get_current_timezone()
        return (
            datetime.combine(self.since, time.min, tzinfo=zone),
            datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=zone),
        )

    def day_list(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range(self.days)]

    def before(self, days: int) -> DayRange:
        """The days just before this range (a default reference window)."""
        return DayRange(
            since=self.since - timedelta(days=days), until=self.since - timedelta(days=1)
        )


class RangeForm(forms.Form):
    since = DayField(required=False, label="From")
    until = DayField(required=False, label="To")

    def clean(self):
        cleaned = super().clean()
        if "since" in self.errors or "until" in self.errors:
            return cleaned
        until = cleaned.get("until") or timezone.localdate()
        since = cleaned.get("since") or until - timedelta(days=DEFAULT_DAYS - 1)
        cleaned["since"], cleaned["until"] = since, until
        form_check_order(self, "since", "until")
        days = (until - since).days + 1
        if not self.errors and days > LONGEST_RANGE_DAYS:
            self.add_error(
                "since", f"a dashboard covers at most {LONGEST_RANGE_DAYS} days, not {days}"
            )
        return cleaned

    def day_range(self) -> DayRange:
        if self.is_valid():
            return DayRange(self.cleaned_data["since"], self.cleaned_data["until"])
        return DayRange.last(DEFAULT_DAYS)


def quick_picks(day_range: DayRange) -> list[dict]:
    """Links for the last N days ending on the range's last day."""
    return [
        {"days": days, "since": (day_range.until - timedelta(days=days - 1)).isoformat(),
         "until": day_range.until.isoformat(), "current": days == day_range.days}
        for days in QUICK_PICKS
    ]  # fmt: skip
