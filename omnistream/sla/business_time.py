"""Business-time arithmetic for SLA policies: due times, elapsed business time, open intervals.

Semantics (the tests' naive reference implements exactly this):

- A schedule is wall-clock local time in one IANA zone (``BusinessHours.timezone``). Each
  weekday (Monday first) has intervals ``[start, end)`` in minutes from local midnight, with
  ``0 <= start < 1440`` and ``start < end <= start + 1440``. ``end > 1440`` is an overnight
  interval: ``(1320, 1800)`` on Monday runs from Monday 22:00 to Tuesday 06:00 local time.
- An interval belongs to the day it STARTS on. A holiday on date D removes every interval that
  starts on D: the overnight tail of the day before a holiday still counts, the overnight tail
  of a holiday does not.
- ``always=True`` (24/7) ignores ``weekly``: every day is one interval 00:00-24:00. Holidays
  still apply: a holiday removes its whole local day 00:00-24:00.
- A UTC instant is business time iff its local wall-clock time (date and time, as
  ``zoneinfo`` gives it for that instant) falls inside an interval of a non-holiday day,
  overnight tails included. The definition is per UTC instant, so daylight saving needs no
  special rule: in Europe/Berlin a 01:00-04:00 interval is 2 real hours on the spring-forward
  night (02:00-03:00 local never happens) and 4 real hours on the fall-back night (02:00-03:00
  local happens twice, both count).
- Intervals are half-open: an instant at an interval's end is not business time.
- Precision is one microsecond; inputs are aware datetimes in any zone (naive ones raise
  ``ValueError``); outputs are aware datetimes in UTC.
- ``add_business_time`` looks at most ``HORIZON`` (1096 days, about 3 years) past ``start``
  and returns ``None`` when the due time is not reached by then: a schedule with no open
  time, holidays covering every open day, or more minutes than the horizon holds.

How: the zone's UTC offset is constant between transitions, and within such a piece local
time is UTC plus a constant, so business time there is the day-by-day local intervals shifted
by that constant. The work is one step per interval (and per day), never per minute.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 1440
HORIZON = timedelta(days=1096)

Schedule = tuple[tuple[tuple[int, int], ...], ...]
"""Seven weekdays, Monday first, each a tuple of (start_minute, end_minute)."""

OFFICE_HOURS: Schedule = (((480, 1020),),) * 6 + ((),)
"""Monday to Saturday 08:00-17:00, Sunday closed (the usual Indonesian office week)."""

_US = 1_000_000
_MIN_US = 60 * _US
_DAY_US = 86_400 * _US
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_HORIZON_US = HORIZON // _ONE_US
_LIMIT_US = (datetime(9999, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_US  # clear of datetime.max
_THURSDAY = 3  # 1970-01-01, day number 0, was a Thursday


class _Offsets:
    """One zone's UTC offset as constant pieces of UTC time, for business-time stepping.

    zoneinfo keeps its transition table private, so the pieces are found per chunk of 2**22
    seconds (about 48.5 days) by asking the offset every 6 hours and bisecting each change
    to the second; a chunk is computed once per process (≈ 200 calls to zoneinfo) and kept.
    This misses only two changes within 6 hours that cancel out, which no zone has had since
    1970. Shared by every BusinessHours of the zone.
    """

    __slots__ = ("_chunks", "_zone")
    _BITS = 22
    _STEP = 6 * 3600

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._chunks: dict[int, tuple[list[int], list[int]]] = {}

    def _offset(self, second: int) -> int:
        offset = datetime.fromtimestamp(second, self._zone).utcoffset()
        assert offset is not None  # a ZoneInfo always has one
        return offset // timedelta(seconds=1)

    def _build(self, chunk: int) -> tuple[list[int], list[int]]:
        base = chunk << self._BITS
        last = base + (1 << self._BITS) - 1
        times: list[int] = []
        offsets = [self._offset(base)]
        samples = [*range(base + self._STEP, last, self._STEP), last]
        before, current = base, offsets[0]
        for sample in samples:
            offset = self._offset(sample)
            if offset != current:
                lo, hi = before, sample  # offset(lo) == current != offset(hi)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self._offset(mid) == current:
                        lo = mid
                    else:
                        hi = mid
                times.append(hi)
                offsets.append(offset)
                current = offset
            before = sample
        self._chunks[chunk] = (times, offsets)
        return times, offsets

    def segment(self, instant_us: int) -> tuple[int, int]:
        """(offset, until): the UTC offset at the instant and the first later instant where it
        may change (a transition or a chunk's end), both in microseconds."""
        second = instant_us // _US
        chunk = second >> self._BITS
        found = self._chunks.get(chunk)
        times, offsets = found if found is not None else self._build(chunk)
        i = bisect_right(times, second)
        until = times[i] if i < len(times) else (chunk + 1) << self._BITS
        return offsets[i] * _US, until * _US


_ZONES: dict[str, _Offsets] = {}


def _zone_offsets(name: str) -> _Offsets:
    found = _ZONES.get(name)
    if found is None:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {name!r}") from exc
        found = _ZONES.setdefault(name, _Offsets(zone))
    return found


def _check_schedule(weekly: Schedule) -> None:
    if len(weekly) != 7:
        raise ValueError(f"weekly needs 7 days (Monday first), got {len(weekly)}")
    for day, spans in enumerate(weekly):
        for span in spans:
            if (
                not isinstance(span, tuple | list)
                or len(span) != 2
                or any(type(m) is not int for m in span)
            ):
                raise ValueError(f"weekly[{day}]: {span!r} is not a (start, end) pair of minutes")
            start, end = span
            if not (0 <= start < MINUTES_PER_DAY and start < end <= start + MINUTES_PER_DAY):
                raise ValueError(
                    f"weekly[{day}]: ({start}, {end}) needs 0 <= start < 1440 "
                    "and start < end <= start + 1440"
                )


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When an SLA clock runs: a zone, 24/7 or a weekly schedule, and holiday dates.

    ``weekly`` has 7 entries, Monday first, each a tuple of (start_minute, end_minute) from
    local midnight (end up to start + 1440; past 1440 runs overnight into the next day). It is
    ignored when ``always`` is true. See the module docstring for the exact semantics.
    """

    timezone: str = "Asia/Jakarta"
    always: bool = False
    weekly: Schedule = OFFICE_HOURS
    holidays: frozenset[date] = frozenset()
    # Precomputed in __post_init__: per weekday the intervals in microseconds, sorted by
    # start; holidays as day numbers since 1970-01-01; the zone's offset pieces.
    _days: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)
    _closed: frozenset[int] = field(init=False, repr=False, compare=False)
    _offsets: _Offsets = field(init=False, repr=False, compare=False)
    _open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_offsets", _zone_offsets(self.timezone))
        _check_schedule(self.weekly)
        weekly = tuple(tuple((s, e) for s, e in day) for day in self.weekly)
        set_(self, "weekly", weekly)
        if not isinstance(self.holidays, frozenset):
            set_(self, "holidays", frozenset(self.holidays))
        effective = (((0, MINUTES_PER_DAY),),) * 7 if self.always else weekly
        days = tuple(tuple(sorted((s * _MIN_US, e * _MIN_US) for s, e in d)) for d in effective)
        set_(self, "_days", days)
        set_(self, "_closed", frozenset(d.toordinal() - _EPOCH_ORDINAL for d in self.holidays))
        set_(self, "_open", any(days))

    @classmethod
    def always_open(
        cls, timezone: str = "Asia/Jakarta", holidays: Iterable[date] = ()
    ) -> BusinessHours:
        """24/7 in the zone, except the given holidays (each a whole local day)."""
        return cls(
            timezone=timezone,
            always=True,
            weekly=(((0, MINUTES_PER_DAY),),) * 7,
            holidays=frozenset(holidays),
        )


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("business time needs an aware datetime (one with a timezone)")
    return (moment - _EPOCH) // _ONE_US


def _from_us(instant_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant_us)


def _pieces(hours: BusinessHours, lo: int, stop: int) -> Iterator[tuple[int, int]]:
    """Business time in [lo, stop) as disjoint, ordered (start, end) UTC microseconds.

    Pieces touching each other are not merged (a piece ends at every offset change)."""
    days, closed, offsets = hours._days, hours._closed, hours._offsets
    while lo < stop:
        offset, until = offsets.segment(lo)
        hi = until if until < stop else stop
        # Within [lo, hi) local time is UTC + offset: walk the local days it covers, from the
        # day before (its overnight intervals may reach into the first day).
        local_lo, local_hi = lo + offset, hi + offset
        day, last_day = local_lo // _DAY_US - 1, (local_hi - 1) // _DAY_US
        while day <= last_day:
            if day not in closed:
                base = day * _DAY_US
                for start, end in days[(day + _THURSDAY) % 7]:
                    a, b = base + start, base + end
                    if a >= local_hi:
                        break
                    if b <= local_lo:
                        continue
                    a = (a if a > local_lo else local_lo) - offset
                    b = (b if b < local_hi else local_hi) - offset
                    a = max(a, lo)  # above a only when intervals given directly overlap
                    if b > a:
                        yield a, b
                        lo = b
            day += 1
        lo = hi


def add_business_time(
    hours: BusinessHours, start: datetime, minutes: int | float
) -> datetime | None:
    """The earliest instant (UTC) by which ``minutes`` business minutes have passed since
    ``start``; with 0 minutes the first business instant at or after ``start``. ``None`` when
    that lies more than ``HORIZON`` after ``start`` (or the schedule has no open time)."""
    if isinstance(minutes, bool) or not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    need = minutes * _MIN_US if isinstance(minutes, int) else round(minutes * _MIN_US)
    if not hours._open:
        return None
    lo = _to_us(start)
    for a, b in _pieces(hours, lo, min(lo + _HORIZON_US, _LIMIT_US)):
        if b - a >= need:
            return _from_us(a + need)
        need -= b - a
    return None


def business_seconds_between(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """Business seconds in [start, end); 0.0 when end <= start."""
    lo, hi = _to_us(start), min(_to_us(end), _LIMIT_US)
    if hi <= lo or not hours._open:
        return 0.0
    return sum(b - a for a, b in _pieces(hours, lo, hi)) / _US


def intervals(
    hours: BusinessHours, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The business intervals overlapping [start, end), clipped to it, in order, touching
    ones merged, as (start, end) aware datetimes in UTC."""
    lo, hi = _to_us(start), min(_to_us(end), _LIMIT_US)
    if hi <= lo or not hours._open:
        return
    current: tuple[int, int] | None = None
    for a, b in _pieces(hours, lo, hi):
        if current is not None and a == current[1]:
            current = (current[0], b)
            continue
        if current is not None:
            yield _from_us(current[0]), _from_us(current[1])
        current = (a, b)
    if current is not None:
        yield _from_us(current[0]), _from_us(current[1])


def is_business_time(hours: BusinessHours, at: datetime) -> bool:
    """Whether the instant ``at`` is business time."""
    instant = _to_us(at)
    local = instant + hours._offsets.segment(instant)[0]
    today = local // _DAY_US
    for day in (today, today - 1):  # yesterday's overnight intervals reach into today
        if day in hours._closed:
            continue
        since = local - day * _DAY_US
        for start, end in hours._days[(day + _THURSDAY) % 7]:
            if start <= since < end:
                return True
    return False
