"""A report's range in its time zone: local dates to UTC instants, and its periods.

A local day starts at the first instant whose local date is that day (zoneinfo: a
midnight skipped by a daylight-saving change starts the day at the first instant after the
gap; a repeated one at its first occurrence), so a day has 23, 24 or 25 hours. Weeks start
on Monday (ISO 8601); a period is clipped to the range, so the first week of a range that
starts on a Wednesday runs from Wednesday. The previous range (period-over-period change)
is the same number of days just before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_DAYS = 400
EARLIEST = date(2000, 1, 1)


class Grouping(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class RangeError(ValueError):
    """Bad input, with the query parameter it concerns."""

    def __init__(self, field: str, message: str, kind: str) -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind  # the stable type clients translate by (docs/errors.md)


def zone_of(name: str) -> ZoneInfo:
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RangeError("tz", f"not an IANA time zone: {name!r}", "unknown_zone") from None


def start_of(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) whose local date in `zone` is `day`."""
    local = datetime.combine(day, time(0), tzinfo=zone)
    at = local.astimezone(UTC)
    # A skipped midnight: fold=0 reads it with the offset before the gap, which may map to
    # the previous local day; then the day starts where the gap ends.
    if at.astimezone(zone).date() < day:
        at = datetime.combine(day, time(1), tzinfo=zone).astimezone(UTC)
        at = at.replace(minute=0, second=0, microsecond=0)
    return at


def _next_start(day: date, grouping: Grouping) -> date:
    if grouping is Grouping.DAY:
        return day + timedelta(days=1)
    if grouping is Grouping.WEEK:
        return day + timedelta(days=7 - day.weekday())
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Period:
    label: date  # the first local date of the period (clipped to the range)
    start: datetime  # UTC
    end: datetime


@dataclass(frozen=True)
class ReportRange:
    first: date
    last: date  # inclusive
    zone: ZoneInfo
    grouping: Grouping
    periods: tuple[Period, ...]
    previous_start: datetime  # the previous range: [previous_start, start)

    @property
    def start(self) -> datetime:
        return self.periods[0].start

    @property
    def end(self) -> datetime:
        return self.periods[-1].end

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def boundaries(self) -> list[datetime]:
        """previous_start, then each period's start, then the end: a bucket's index by
        width_bucket is 1 for the previous range and 1 + k for period k."""
        return [self.previous_start, *(p.start for p in self.periods), self.end]

    @classmethod
    def of(
        cls, first: date | None, last: date | None, zone_name: str, grouping: Grouping, today: date
    ) -> ReportRange:
        zone = zone_of(zone_name)
        last = last or (today if first is None else min(today, first + timedelta(days=29)))
        first = first or last - timedelta(days=29)
        if first < EARLIEST:
            raise RangeError(
                "from", f"must be on or after {EARLIEST.isoformat()}", "range_too_early"
            )
        if last < first:
            raise RangeError("to", "must be on or after `from`", "range_reversed")
        if (last - first).days + 1 > MAX_DAYS:
            raise RangeError("to", f"the range is longer than {MAX_DAYS} days", "range_too_long")
        periods: list[Period] = []
        day = first
        while day <= last:
            following = min(_next_start(day, grouping), last + timedelta(days=1))
            periods.append(Period(day, start_of(day, zone), start_of(following, zone)))
            day = following
        previous = start_of(first - timedelta(days=(last - first).days + 1), zone)
        return cls(first, last, zone, grouping, tuple(periods), previous)
