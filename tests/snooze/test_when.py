"""'Tomorrow 09:00' in a time zone, across daylight-saving changes, and the zone check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from omnistream.kit.errors import Unprocessable
from omnistream.snooze.when import check_until, next_week_morning, tomorrow_morning, zone

NEW_YORK = ZoneInfo("America/New_York")


def test_tomorrow_is_the_next_local_day() -> None:
    # The local date counts, not the UTC one.
    now = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)  # 23:30 WIB
    woke = tomorrow_morning(now, ZoneInfo("Asia/Jakarta"))
    assert woke.astimezone(UTC) == datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 09:00 WIB
    # 01:00 on the 8th in Jakarta (18:00 UTC on the 7th): tomorrow is the 9th there.
    woke = tomorrow_morning(datetime(2026, 12, 7, 18, 0, tzinfo=UTC), ZoneInfo("Asia/Jakarta"))
    assert woke.astimezone(UTC) == datetime(2026, 12, 9, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected_utc"),
    [
        # The evening before clocks go forward (8 March 2026): 09:00 EDT is 13:00 UTC.
        (datetime(2026, 3, 7, 22, 0, tzinfo=NEW_YORK), datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
        # The evening before they go back (1 November 2026): 09:00 EST is 14:00 UTC.
        (datetime(2026, 10, 31, 22, 0, tzinfo=NEW_YORK), datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),
    ],
)
def test_tomorrow_is_nine_across_dst(now: datetime, expected_utc: datetime) -> None:
    woke = tomorrow_morning(now, NEW_YORK)
    assert woke.astimezone(UTC) == expected_utc
    assert (woke.astimezone(NEW_YORK).hour, woke.astimezone(NEW_YORK).minute) == (9, 0)
    # 11 wall-clock hours later, but a 23- or 25-hour day: 10 or 12 real hours.
    assert woke.astimezone(UTC) - now.astimezone(UTC) != timedelta(hours=11)


def test_zone_names_only() -> None:
    assert zone("Asia/Jakarta").key == "Asia/Jakarta"
    assert zone("UTC").key == "UTC"
    for bad in ("Mars/Olympus", "../etc/passwd", "", "asia/jakarta "):
        with pytest.raises(Unprocessable) as caught:
            zone(bad)
        assert caught.value.errors[0]["field"] == "timezone"


def test_until_must_be_ahead_within_a_year() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert check_until(now + timedelta(days=365), now) == now + timedelta(days=365)
    for bad in (now, now - timedelta(seconds=1), now + timedelta(days=365, seconds=1)):
        with pytest.raises(Unprocessable):
            check_until(bad, now)


def test_next_week_is_next_monday_at_nine() -> None:
    jakarta = ZoneInfo("Asia/Jakarta")
    monday = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 10:00 WIB
    assert next_week_morning(monday, jakarta) == datetime(2026, 12, 14, 9, 0, tzinfo=jakarta)
    sunday = datetime(2026, 12, 13, 16, 0, tzinfo=UTC)  # Sunday 23:00 WIB
    assert next_week_morning(sunday, jakarta) == datetime(2026, 12, 14, 9, 0, tzinfo=jakarta)
