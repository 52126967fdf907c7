"""Business hours in their JSON form: validation errors name the field, to_hours(), and the
public holiday calendars."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from omnistream.sla.business_time import OFFICE_HOURS, BusinessHours
from omnistream.sla.hours import BusinessHoursSpec, public_holidays


def errors(body: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        BusinessHoursSpec.model_validate(body)
    return [(error["loc"], error["type"]) for error in caught.value.errors()]


def day(*spans: tuple[str, str]) -> list[dict[str, str]]:
    return [{"start": start, "end": end} for start, end in spans]


def test_defaults_are_the_jakarta_office_week() -> None:
    spec = BusinessHoursSpec()
    assert spec.to_hours() == BusinessHours()
    assert spec.to_hours().weekly == OFFICE_HOURS
    assert spec.to_hours().timezone == "Asia/Jakarta"


def test_a_bad_timezone_names_the_field() -> None:
    assert errors({"timezone": "Asia/Atlantis"}) == [(("timezone",), "timezone")]
    assert errors({"timezone": "localtime"}) == [(("timezone",), "timezone")]
    assert BusinessHoursSpec(timezone="Europe/Berlin").to_hours().timezone == "Europe/Berlin"


def test_times_must_be_hh_mm() -> None:
    assert errors({"weekly": {"mon": day(("25:00", "26:00"))}}) == [
        (("weekly", "mon", 0, "start"), "time"),
        (("weekly", "mon", 0, "end"), "time"),
    ]
    assert errors({"weekly": {"tue": day(("08:00", "17:00"), ("8:00", "9"))}}) == [
        (("weekly", "tue", 1, "start"), "time"),
        (("weekly", "tue", 1, "end"), "time"),
    ]
    assert errors({"weekly": {"mon": day(("24:00", "12:00"))}}) == [
        (("weekly", "mon", 0, "start"), "time")
    ]


def test_24_00_ends_a_day_and_end_before_start_runs_overnight() -> None:
    spec = BusinessHoursSpec.model_validate(
        {"weekly": {"mon": day(("00:00", "24:00")), "fri": day(("22:00", "06:00"))}}
    )
    assert spec.to_hours().weekly == (((0, 1440),), (), (), (), ((1320, 1800),), (), ())


def test_start_equal_to_end_is_rejected() -> None:
    assert errors({"weekly": {"wed": day(("08:00", "08:00"))}}) == [
        (("weekly", "wed", 0, "end"), "empty_interval")
    ]
    assert errors({"weekly": {"wed": day(("00:00", "00:00"))}}) == [
        (("weekly", "wed", 0, "end"), "empty_interval")
    ]


def test_overlapping_intervals_are_rejected() -> None:
    assert errors({"weekly": {"mon": day(("08:00", "12:00"), ("11:00", "17:00"))}}) == [
        (("weekly", "mon", 1), "overlap")
    ]
    # Monday's night runs into Tuesday morning.
    body = {"weekly": {"mon": day(("22:00", "07:00")), "tue": day(("06:30", "17:00"))}}
    assert errors(body) == [(("weekly", "tue", 0), "overlap")]
    # Sunday's night runs into Monday morning (the week is a circle).
    body = {"weekly": {"mon": day(("05:00", "12:00")), "sun": day(("22:00", "06:00"))}}
    assert errors(body) == [(("weekly", "sun", 0), "overlap")]
    with pytest.raises(ValidationError, match=r"overlaps weekly\.mon\.0 \(05:00-12:00\)"):
        BusinessHoursSpec.model_validate(body)
    # Touching intervals are fine: [08:00, 12:00) and [12:00, 17:00).
    touching = {"weekly": {"mon": day(("08:00", "12:00"), ("12:00", "17:00"))}}
    assert BusinessHoursSpec.model_validate(touching).to_hours().weekly[0] == (
        (480, 720),
        (720, 1020),
    )


def test_at_most_eight_intervals_a_day() -> None:
    nine = day(*((f"{h:02d}:00", f"{h:02d}:30") for h in range(9)))
    assert errors({"weekly": {"thu": nine}}) == [(("weekly", "thu"), "too_long")]
    assert BusinessHoursSpec.model_validate({"weekly": {"thu": nine[:8]}}).to_hours()


def test_unknown_days_and_fields_are_rejected() -> None:
    assert errors({"weekly": {"monday": day(("08:00", "17:00"))}}) == [
        (("weekly", "monday", "[key]"), "literal_error")
    ]
    assert errors({"weekly": {"mon": [{"start": "08:00", "end": "17:00", "x": 1}]}}) == [
        (("weekly", "mon", 0, "x"), "extra_forbidden")
    ]
    assert errors({"open": True}) == [(("open",), "extra_forbidden")]


def test_a_schedule_needs_some_open_time_unless_always() -> None:
    assert errors({"weekly": {}}) == [(("weekly",), "no_hours")]
    assert errors({"weekly": {"mon": []}}) == [(("weekly",), "no_hours")]
    always = BusinessHoursSpec.model_validate({"always": True, "weekly": {}})
    assert always.to_hours().always
    assert always.to_hours() == BusinessHours(always=True, weekly=((),) * 7)


def test_holidays_are_deduplicated_sorted_and_bounded() -> None:
    spec = BusinessHoursSpec.model_validate(
        {"holidays": ["2026-08-17", "2026-01-01", "2026-08-17", "2026-03-19"]}
    )
    assert spec.holidays == [date(2026, 1, 1), date(2026, 3, 19), date(2026, 8, 17)]
    assert spec.to_hours().holidays == frozenset(spec.holidays)
    assert errors({"holidays": ["2026-02-30"]}) == [(("holidays", 0), "date_from_datetime_parsing")]
    many = [date(2020, 1, 1).toordinal() + i for i in range(1001)]
    too_many = [date.fromordinal(n).isoformat() for n in many]
    assert errors({"holidays": too_many}) == [(("holidays",), "too_long")]


def test_json_round_trip() -> None:
    body = {
        "timezone": "Europe/Berlin",
        "weekly": {
            "mon": day(("13:00", "17:00"), ("08:00", "12:00")),
            "fri": day(("22:00", "24:00")),
            "sat": day(("22:00", "02:00")),
        },
        "holidays": ["2026-12-25", "2026-12-24"],
    }
    spec = BusinessHoursSpec.model_validate(body)
    again = BusinessHoursSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    hours = again.to_hours()
    assert hours == BusinessHours(
        timezone="Europe/Berlin",
        weekly=(((480, 720), (780, 1020)), (), (), (), ((1320, 1440),), ((1320, 1560),), ()),
        holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
    )


def test_public_holidays() -> None:
    indonesia = public_holidays("ID", 2026)
    assert (date(2026, 8, 17), "Independence Day") in indonesia
    assert [d for d, _ in indonesia] == sorted(d for d, _ in indonesia)
    assert all(d.year == 2026 for d, _ in indonesia)
    assert public_holidays("id", 2026) == indonesia
    bavaria = {d for d, _ in public_holidays("DE", 2026, "BY")}
    berlin = {d for d, _ in public_holidays("DE", 2026, "BE")}
    assert date(2026, 1, 6) in bavaria - berlin  # Epiphany
    assert date(2026, 10, 3) in bavaria & berlin  # German Unity Day


@pytest.mark.parametrize(
    ("country", "year", "subdivision", "message"),
    [
        ("XX", 2026, None, "country 'XX'"),
        ("", 2026, None, "country ''"),
        ("DE", 2026, "ZZ", "subdivision 'ZZ' of DE"),
        ("ID", 1999, None, "2000 to 2100"),
        ("ID", 2101, None, "2000 to 2100"),
    ],
)
def test_public_holidays_rejects(
    country: str, year: int, subdivision: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        public_holidays(country, year, subdivision)
