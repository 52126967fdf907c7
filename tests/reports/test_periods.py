"""Report ranges: local days to UTC instants across daylight-saving changes and zones
with quarter-hour offsets; weeks and months clipped to the range; limits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from omnistream.reports.periods import Grouping, RangeError, ReportRange

TODAY = date(2026, 12, 7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_day_of_25_and_of_23_hours() -> None:
    r = ReportRange.of(
        date(2026, 11, 1), date(2026, 11, 2), "America/New_York", Grouping.DAY, TODAY
    )
    assert [p.start for p in r.periods] == [utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)]
    assert r.periods[0].end - r.periods[0].start == (utc(2026, 11, 2, 5) - utc(2026, 11, 1, 4))
    assert (r.periods[0].end - r.periods[0].start).total_seconds() == 25 * 3600
    spring = ReportRange.of(
        date(2026, 3, 8), date(2026, 3, 8), "America/New_York", Grouping.DAY, TODAY
    )
    assert (spring.end - spring.start).total_seconds() == 23 * 3600


def test_quarter_hour_zones_and_a_skipped_midnight() -> None:
    nepal = ReportRange.of(
        date(2026, 11, 1), date(2026, 11, 1), "Asia/Kathmandu", Grouping.DAY, TODAY
    )
    assert nepal.start == utc(2026, 10, 31, 18, 15)
    # Santiago moves its clocks at midnight: Sep 6 2026 starts at 01:00 local (04:00 UTC).
    chile = ReportRange.of(
        date(2026, 9, 6), date(2026, 9, 6), "America/Santiago", Grouping.DAY, TODAY
    )
    assert chile.start == utc(2026, 9, 6, 4)


def test_weeks_months_previous_and_defaults() -> None:
    r = ReportRange.of(date(2026, 10, 28), date(2026, 12, 2), "UTC", Grouping.MONTH, TODAY)
    assert [p.label for p in r.periods] == [
        date(2026, 10, 28),
        date(2026, 11, 1),
        date(2026, 12, 1),
    ]
    assert r.previous_start == utc(2026, 9, 22)  # 36 days before
    w = ReportRange.of(date(2026, 11, 4), date(2026, 11, 16), "UTC", Grouping.WEEK, TODAY)
    assert [p.label for p in w.periods] == [
        date(2026, 11, 4),
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    d = ReportRange.of(None, None, "UTC", Grouping.DAY, TODAY)
    assert (d.first, d.last, len(d.periods)) == (date(2026, 11, 8), TODAY, 30)


@pytest.mark.parametrize(
    ("first", "last", "zone", "field", "kind"),
    [
        (date(2025, 1, 1), date(2026, 2, 5), "UTC", "to", "range_too_long"),
        (date(2026, 1, 2), date(2026, 1, 1), "UTC", "to", "range_reversed"),
        (date(1999, 12, 31), date(2000, 1, 2), "UTC", "from", "range_too_early"),
        (date(2026, 1, 1), date(2026, 1, 2), "Nowhere/Land", "tz", "unknown_zone"),
        (date(2026, 1, 1), date(2026, 1, 2), "", "tz", "unknown_zone"),
    ],
)
def test_refused(first: date, last: date, zone: str, field: str, kind: str) -> None:
    with pytest.raises(RangeError) as caught:
        ReportRange.of(first, last, zone, Grouping.DAY, TODAY)
    assert (caught.value.field, caught.value.kind) == (field, kind)


def test_daily_parts_cover_the_range_exactly() -> None:
    """The agents table's reply counts sum signed parts (reports/queries._daily_parts):
    every 15-minute bucket inside the range counts once, none outside, whatever the edges."""
    import random
    from datetime import UTC, datetime, timedelta

    from omnistream.reports.queries import _daily_parts

    rng = random.Random(7)
    origin = datetime(2026, 3, 1, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    for _ in range(300):
        start = origin + quarter * rng.randint(0, 400)
        end = start + quarter * rng.randint(1, 500)
        parts = _daily_parts(start, end)
        for grain, lo, hi, _sign in parts:
            assert lo < hi and grain in (2, 3)
            if grain == 3:  # whole UTC days
                assert lo.hour == lo.minute == 0 and hi.hour == hi.minute == 0
        at = start - timedelta(days=2)
        while at < end + timedelta(days=2):
            counted = sum(sign for _, lo, hi, sign in parts if lo <= at < hi)
            assert counted == (1 if start <= at < end else 0), (start, end, at, parts)
            at += quarter
