"""Dates and date ranges typed by people (pages, forms, commands), parsed in one place.

Every day or moment is refused with a clear message unless it lies between EARLIEST and LATEST
(so "the day after" and time-zone shifts always exist: 0001-01-01 and 9999-12-31 are typing
slips, not ranges), and a range whose start is after its end says so instead of matching
nothing. Forms use DayField / MomentField and check_order; anything else calls parse_day /
parse_moment, which raise InvalidInput (a 400).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from cases.errors import InvalidInput

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
WINDOW = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
DAY_FORMAT = "YYYY-MM-DD"
MOMENT_FORMAT = "YYYY-MM-DD, YYYY-MM-DDTHH:MM or an ISO 8601 timestamp"
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def parse_day(value: str, *, name: str) -> date | None:
    """A calendar day as YYYY-MM-DD inside the window; None for an empty value."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(f"{name} must be a date as {DAY_FORMAT}, not {text[:40]!r}")
    return check_day(day, name=name)


def parse_moment(value: str, *, name: str) -> datetime | None:
    """A day (its start) or a date and time, aware (naive means the current time zone)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 40 else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(f"{name} must be {MOMENT_FORMAT}, not {text[:40]!r}")
    return check_moment(moment, name=name)


def check_day(day: date, *, name: str) -> date:
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(f"{name} {day.isoformat()} is out of range: give a date {WINDOW}")
    return day


def check_moment(moment: datetime, *, name: str) -> datetime:
    check_day(moment.date(), name=name)  # before make_aware: year 1 or 9999 cannot shift zones
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def check_order(start, end, *, start_name: str, end_name: str) -> None:
    """Refuse a reversed range (an inclusive day range may start and end on the same day)."""
    if start is not None and end is not None and start > end:
        raise InvalidInput(
            f"{start_name} ({_text(start)}) is after {end_name} ({_text(end)}): "
            "the range is reversed"
        )


def day_start(day: date) -> datetime:
    """The first moment of a day in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def day_end(day: date) -> datetime:
    """The end of an inclusive day range: the start of the next day (exclusive)."""
    return day_start(day + timedelta(days=1))


def _text(value) -> str:
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


class DayField(forms.DateField):
    """A form's day input through parse_day: the same formats, window and messages."""

    widget = DATE_INPUT

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            if isinstance(value, datetime):
                return check_day(value.date(), name=self._name())
            if isinstance(value, date):
                return check_day(value, name=self._name())
            return parse_day(str(value), name=self._name())
        except InvalidInput as error:
            raise forms.ValidationError(error.message, code="invalid") from None

    def _name(self) -> str:
        return str(self.label) if self.label else "the date"


class MomentField(forms.DateTimeField):
    """A form's date-and-time input through parse_moment (aware, inside the window)."""

    widget = DATETIME_INPUT

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            if isinstance(value, datetime):
                return check_moment(value, name=self._name())
            return parse_moment(str(value), name=self._name())
        except InvalidInput as error:
            raise forms.ValidationError(error.message, code="invalid") from None

    def _name(self) -> str:
        return str(self.label) if self.label else "the time"


def form_check_order(form: forms.Form, start_field: str, end_field: str) -> None:
    """In a form's clean(): a reversed range becomes an error on its end field."""
    data = form.cleaned_data
    try:
        check_order(
            data.get(start_field), data.get(end_field),
            start_name=str(form.fields[start_field].label or start_field),
            end_name=str(form.fields[end_field].label or end_field),
        )  # fmt: skip
    except InvalidInput as error:
        form.add_error(end_field, error.message)
