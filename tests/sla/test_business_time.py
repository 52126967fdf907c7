"""Business-time arithmetic: explicit cases, then hypothesis properties against a naive
reference that walks UTC minute by minute and applies the module docstring's definition."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistream.sla.business_time import (
    HORIZON,
    BusinessHours,
    add_business_time,
    business_seconds_between,
    intervals,
    is_business_time,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessHours()  # Asia/Jakarta, Mon-Sat 08:00-17:00
MINUTE = timedelta(minutes=1)


def jkt(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=JAKARTA)


def local(moment: datetime | None, zone: ZoneInfo = JAKARTA) -> datetime:
    assert moment is not None
    assert moment.tzinfo is UTC
    return moment.astimezone(zone)


def weekdays(*spans: tuple[int, int], days: int = 5) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(tuple(spans) if i < days else () for i in range(7))


# --- explicit cases -------------------------------------------------------------------------


def test_friday_afternoon_is_due_saturday_morning() -> None:
    assert jkt(5, 8).weekday() == 4
    assert local(add_business_time(OFFICE, jkt(5, 8, 16, 30), 60)) == jkt(5, 9, 8, 30)
    assert local(add_business_time(OFFICE, jkt(5, 9, 16, 30), 60)) == jkt(5, 11, 8, 30)


def test_a_start_in_another_zone_is_the_same_instant() -> None:
    start = jkt(5, 8, 16, 30).astimezone(ZoneInfo("America/New_York"))
    assert add_business_time(OFFICE, start, 60) == jkt(5, 9, 8, 30)


def test_holidays_are_skipped() -> None:
    independence = BusinessHours(holidays=frozenset({date(2026, 8, 17)}))  # a Monday
    assert local(add_business_time(independence, jkt(8, 15, 16, 30), 60)) == jkt(8, 18, 8, 30)
    several = BusinessHours(holidays=frozenset(date(2026, 3, d) for d in (23, 24, 25)))
    assert local(add_business_time(several, jkt(3, 21, 16, 30), 60)) == jkt(3, 26, 8, 30)
    assert not is_business_time(several, jkt(3, 24, 10))


def test_overnight_interval_belongs_to_the_day_it_starts_on() -> None:
    nights = BusinessHours(weekly=weekdays((22 * 60, 30 * 60)))  # Mon-Fri 22:00-06:00
    assert is_business_time(nights, jkt(5, 9, 3))  # Saturday 03:00: Friday's night
    assert not is_business_time(nights, jkt(5, 10, 3))  # Sunday 03:00: Saturday has none
    assert not is_business_time(nights, jkt(5, 11, 6))  # the end is not included
    # 2026-05-12 (a Tuesday) a holiday: Monday's night still runs into it, its own does not.
    holiday = BusinessHours(weekly=nights.weekly, holidays=frozenset({date(2026, 5, 12)}))
    assert is_business_time(holiday, jkt(5, 12, 3))
    assert not is_business_time(holiday, jkt(5, 12, 23))
    assert not is_business_time(holiday, jkt(5, 13, 3))
    assert local(add_business_time(holiday, jkt(5, 11, 23), 7 * 60)) == jkt(5, 12, 6)
    assert local(add_business_time(holiday, jkt(5, 11, 23), 7 * 60 + 1)) == jkt(5, 13, 22, 1)
    assert business_seconds_between(holiday, jkt(5, 11), jkt(5, 14, 12)) == 16 * 3600


def test_a_due_time_weeks_away() -> None:
    start = jkt(6, 1, 8)  # a Monday; 54 business hours a week
    assert local(add_business_time(OFFICE, start, 40 * 60)) == jkt(6, 5, 12)
    assert local(add_business_time(OFFICE, start, 10_000)) == jkt(6, 22, 12, 40)
    assert business_seconds_between(OFFICE, start, jkt(6, 22, 12, 40)) == 10_000 * 60


def test_always_open_with_and_without_holidays() -> None:
    always = BusinessHours.always_open()
    assert local(add_business_time(always, jkt(5, 8, 23), 90)) == jkt(5, 9, 0, 30)
    assert is_business_time(always, jkt(5, 10, 3, 33))
    saturday_off = BusinessHours.always_open(holidays=[date(2026, 5, 9)])
    assert local(add_business_time(saturday_off, jkt(5, 8, 23), 90)) == jkt(5, 10, 0, 30)
    assert business_seconds_between(saturday_off, jkt(5, 8), jkt(5, 11)) == 2 * 86400
    assert list(intervals(always, jkt(5, 1), jkt(5, 20))) == [(jkt(5, 1), jkt(5, 20))]
    assert always.weekly == saturday_off.weekly  # weekly is ignored when always


def test_zero_minutes_is_the_first_business_instant() -> None:
    assert local(add_business_time(OFFICE, jkt(5, 9, 18), 0)) == jkt(5, 11, 8)
    inside = jkt(5, 11, 9, 15, 12).replace(microsecond=5)
    assert add_business_time(OFFICE, inside, 0) == inside
    assert local(add_business_time(OFFICE, inside, 0.5)) == inside + timedelta(seconds=30)


def test_berlin_daylight_saving_changes() -> None:
    nights = BusinessHours("Europe/Berlin", weekly=(((60, 240),),) * 7)  # 01:00-04:00 daily

    def berlin(month: int, day: int, hour: int = 0) -> datetime:
        return datetime(2026, month, day, hour, tzinfo=BERLIN)

    def hours_on(month: int, day: int) -> float:
        return business_seconds_between(nights, berlin(month, day), berlin(month, day, 12)) / 3600

    assert [hours_on(3, d) for d in (28, 29, 30)] == [3, 2, 3]
    assert [hours_on(10, d) for d in (24, 25, 26)] == [3, 4, 3]
    spring = add_business_time(nights, berlin(3, 29), 90)
    assert spring == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert local(add_business_time(nights, berlin(3, 29), 121), BERLIN) == berlin(3, 30, 1) + MINUTE
    autumn = add_business_time(nights, berlin(10, 25), 210)
    assert autumn == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)  # 03:30 CET, after the fold
    assert add_business_time(nights, berlin(10, 25), 240) == datetime(2026, 10, 25, 3, tzinfo=UTC)
    assert add_business_time(nights, berlin(10, 25), 241) == datetime(
        2026, 10, 26, 0, 1, tzinfo=UTC
    )
    spans = list(intervals(nights, berlin(10, 25), berlin(10, 25, 12)))
    assert spans == [
        (datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 3, tzinfo=UTC))
    ]


def test_unreachable_due_times_are_none() -> None:
    closed = BusinessHours(weekly=((),) * 7)
    assert add_business_time(closed, jkt(5, 8), 0) is None
    assert business_seconds_between(closed, jkt(5, 8), jkt(6, 8)) == 0
    mondays = BusinessHours(weekly=weekdays((480, 1020), days=1))
    every_monday = frozenset(date(2026, 5, 4) + timedelta(weeks=w) for w in range(200))
    blocked = BusinessHours(weekly=mondays.weekly, holidays=every_monday)
    assert add_business_time(blocked, jkt(5, 4), 1) is None
    always = BusinessHours.always_open()
    assert add_business_time(always, jkt(5, 4), HORIZON / MINUTE) is not None
    assert add_business_time(always, jkt(5, 4), HORIZON / MINUTE + 1) is None


def test_business_seconds_and_intervals() -> None:
    assert business_seconds_between(OFFICE, jkt(5, 8, 16), jkt(5, 11, 9)) == 11 * 3600
    assert business_seconds_between(OFFICE, jkt(5, 11, 9), jkt(5, 8, 16)) == 0
    assert list(intervals(OFFICE, jkt(5, 8, 16), jkt(5, 11, 9))) == [
        (jkt(5, 8, 16), jkt(5, 8, 17)),
        (jkt(5, 9, 8), jkt(5, 9, 17)),
        (jkt(5, 11, 8), jkt(5, 11, 9)),
    ]
    split = BusinessHours(weekly=weekdays((480, 720), (720, 1020), (1320, 1440)))
    assert list(intervals(split, jkt(5, 11), jkt(5, 12))) == [
        (jkt(5, 11, 8), jkt(5, 11, 17)),
        (jkt(5, 11, 22), jkt(5, 12)),
    ]


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_time(OFFICE, datetime(2026, 5, 8, 9), 10)
    with pytest.raises(ValueError, match="minutes"):
        add_business_time(OFFICE, jkt(5, 8), -1)
    with pytest.raises(ValueError, match="timezone"):
        BusinessHours("Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="start"):
        BusinessHours(weekly=weekdays((600, 600)))
    with pytest.raises(ValueError, match="pair"):
        BusinessHours(weekly=((600,),) * 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="7 days"):
        BusinessHours(weekly=((),))


# --- properties against a naive reference -----------------------------------------------------

ZONES = [
    "Asia/Jakarta",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute daylight saving
    "Asia/Kathmandu",  # +05:45
    "America/Santiago",  # changes at local midnight
]
WALK_LIMIT = 12 * 1440  # the reference walks at most 12 days


def reference_is_business(hours: BusinessHours, at: datetime) -> bool:
    """The module docstring's definition, read directly."""
    wall = at.astimezone(ZoneInfo(hours.timezone))
    second = wall.hour * 3600 + wall.minute * 60 + wall.second
    schedule = (((0, 1440),),) * 7 if hours.always else hours.weekly
    for day, carried in ((wall.date(), 0), (wall.date() - timedelta(days=1), 86400)):
        if day in hours.holidays:
            continue
        if any(s * 60 <= second + carried < e * 60 for s, e in schedule[day.weekday()]):
            return True
    return False


def reference_add(hours: BusinessHours, start: datetime, minutes: int) -> datetime | None:
    """Walk whole UTC minutes (every zone offset here is whole minutes, so each minute is
    all business or none); None when not reached within WALK_LIMIT minutes."""
    moment = start
    for _ in range(WALK_LIMIT):
        if reference_is_business(hours, moment):
            if minutes == 0:
                return moment
            minutes -= 1
            if minutes == 0:
                return moment + MINUTE
        moment += MINUTE
    return None


@cache
def transitions(zone_name: str) -> list[datetime]:
    """Hours of 2025-2027 (UTC) at which the zone's offset changes."""
    zone, found = ZoneInfo(zone_name), []
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    before = moment.astimezone(zone).utcoffset()
    while moment.year < 2028:
        moment += timedelta(hours=1)
        offset = moment.astimezone(zone).utcoffset()
        if offset != before:
            found.append(moment)
        before = offset
    return found


@st.composite
def business_hours(draw: st.DrawFn, zone: str) -> BusinessHours:
    start_minute = st.integers(0, 1439) | st.sampled_from([0, 60, 120, 480, 1320, 1425])
    span = st.integers(1, 1440) | st.sampled_from([60, 180, 540, 1440])
    day = st.lists(st.tuples(start_minute, span), max_size=3).map(
        lambda spans: tuple((s, s + n) for s, n in spans)
    )
    weekly = tuple(draw(day) for _ in range(7))
    holiday_days = draw(st.lists(st.integers(-2, 12), max_size=4))
    return BusinessHours(
        timezone=zone,
        always=draw(st.sampled_from((False, False, False, False, True))),
        weekly=weekly,
        holidays=frozenset(date(2026, 1, 1) + timedelta(days=d) for d in holiday_days),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[BusinessHours, datetime, int]:
    """A schedule, a whole-minute UTC start and the minutes from it to the zone's next offset
    change (half the starts lie at most 2 days before one); the schedule's holidays are moved
    to lie near the start."""
    zone = draw(st.sampled_from(ZONES))
    hours = draw(business_hours(zone))
    changes = transitions(zone)
    anchored = draw(st.booleans())
    if changes and anchored:
        start = draw(st.sampled_from(changes)) - draw(st.integers(0, 2880)) * MINUTE
    else:
        start = datetime(2026, 1, 1, tzinfo=UTC) + draw(st.integers(0, 730 * 1440)) * MINUTE
    change = next((t for t in changes if t >= start), start + timedelta(days=2))
    shift = start.astimezone(ZoneInfo(zone)).date() - date(2026, 1, 1)
    holidays = frozenset(d + shift for d in hours.holidays)
    return (
        BusinessHours(zone, hours.always, hours.weekly, holidays),
        start,
        (change - start) // MINUTE,
    )


@settings(max_examples=500, deadline=None)
@given(cases(), st.integers(0, 3000) | st.sampled_from([0, 1, 60, 540]))
def test_add_business_time_matches_the_reference(
    case: tuple[BusinessHours, datetime, int], minutes: int
) -> None:
    hours, start, _ = case
    due = add_business_time(hours, start, minutes)
    expected = reference_add(hours, start, minutes)
    if expected is None:
        assert due is None or due > start + WALK_LIMIT * MINUTE
    else:
        assert due == expected
    if due is not None:
        assert business_seconds_between(hours, start, due) == minutes * 60


@settings(max_examples=500, deadline=None)
@given(cases(), st.integers(0, 59), st.integers(0, 999_999))
def test_is_business_time_matches_the_reference(
    case: tuple[BusinessHours, datetime, int], second: int, microsecond: int
) -> None:
    hours, start, _ = case
    assert is_business_time(hours, start) == reference_is_business(hours, start)
    inside = start + timedelta(seconds=second, microseconds=microsecond)
    assert is_business_time(hours, inside) == reference_is_business(hours, start)


@settings(max_examples=400, deadline=None)
@given(cases(), st.integers(1, 1440))
def test_intervals_are_the_reference_minutes(
    case: tuple[BusinessHours, datetime, int], past_change: int
) -> None:
    hours, start, to_change = case
    length = min(to_change, 2880) + past_change  # up to a day past the next offset change
    end = start + length * MINUTE
    spans = list(intervals(hours, start, end))
    for (a, b), (c, _) in pairwise(spans):
        assert a < b < c  # ordered, disjoint, touching ones merged
    assert all(start <= a < b <= end and a.tzinfo is UTC for a, b in spans)
    total = sum((b - a).total_seconds() for a, b in spans)
    assert total == business_seconds_between(hours, start, end)
    minutes = [start + i * MINUTE for i in range(length)]
    covered = {m for a, b in spans for m in minutes if a <= m < b}
    assert covered == {m for m in minutes if reference_is_business(hours, m)}
