"""Moments as people read them, the same on every page: "2 Dec 2026" for a day and
"2 Dec 2026, 15:33" for a time of day (24-hour, so it reads the same in every country).
Written out by hand rather than with `strftime`, whose month names follow the process's
locale. A moment without a time zone is taken as UTC, as the database stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_date(moment: date) -> str:
    """`2 Dec 2026`: a calendar day, or a moment's day in its own time zone."""
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def format_datetime(moment: datetime) -> str:
    """`2 Dec 2026, 15:33`, in the moment's own time zone."""
    return f"{format_date(moment)}, {moment.hour:02d}:{moment.minute:02d}"


def machine_datetime(moment: datetime) -> str:
    """The ISO 8601 value of a `<time datetime=…>`: `2026-12-02T15:33:00+00:00`."""
    return _aware(moment).isoformat(timespec="seconds")
