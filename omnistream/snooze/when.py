"""When a snooze ends: the request's choice turned into a time (or None: the customer's next
message). Pure functions of the request, the agent's time zone and now."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from omnistream.kit.errors import Unprocessable

MAX_AHEAD = timedelta(days=365)  # beyond this a snooze is a forgotten conversation
MORNING = time(9, 0)  # "tomorrow": at 09:00 in the agent's time zone


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone of that name, or a 422 naming `field` (file paths and the like are not
    zone names: only the names the system's database lists are taken)."""
    if name not in _names():
        raise Unprocessable.field(field, f"{name!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unreadable
        raise Unprocessable.field(field, f"{name!r} is not an IANA time zone name") from exc


_NAMES: set[str] = set()


def _names() -> set[str]:
    if not _NAMES:
        _NAMES.update(available_timezones(), {"UTC"})
    return _NAMES


def tomorrow_morning(now: datetime, tz: ZoneInfo) -> datetime:
    """09:00 of the next calendar day in `tz`, as an aware time. DST-safe: the wall time is
    built in the zone, so a day of 23 or 25 hours still lands at 09:00 (a 09:00 that a
    transition skips does not exist in any zone in use; fold=0 takes the first if repeated)."""
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=1)
    return datetime.combine(day, MORNING, tzinfo=tz)


def next_week_morning(now: datetime, tz: ZoneInfo) -> datetime:
    """09:00 of next Monday in `tz` (a week ahead when today is Monday), DST-safe as above."""
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=7 - local.weekday())
    return datetime.combine(day, MORNING, tzinfo=tz)


def check_until(until: datetime, now: datetime) -> datetime:
    """A wake time the API accepts: in the future and at most MAX_AHEAD away."""
    if until <= now:
        raise Unprocessable.field("until", "must be in the future")
    if until - now > MAX_AHEAD:
        raise Unprocessable.field("until", f"must be at most {MAX_AHEAD.days} days ahead")
    return until
