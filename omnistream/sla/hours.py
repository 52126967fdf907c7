"""Business hours as the API takes them (JSON), validated, and public holiday calendars.

The JSON form::

    {"timezone": "Asia/Jakarta", "always": false,
     "weekly": {"mon": [{"start": "08:00", "end": "17:00"}], "sat": [...]},
     "holidays": ["2026-08-17"]}

- ``timezone``: an IANA name (default ``Asia/Jakarta``).
- ``always``: 24/7; ``weekly`` is then ignored (still validated), holidays still apply.
- ``weekly``: per day (``mon`` .. ``sun``) up to 8 intervals ``[start, end)`` of local time;
  a missing day is closed. ``end`` may be ``24:00``; ``end`` before ``start`` runs overnight
  into the next day (``22:00``-``06:00``); ``start == end`` is rejected. Intervals may not
  overlap anywhere in the week, overnight ones included (Sunday's night runs into Monday).
  Default: Monday to Saturday 08:00-17:00, the usual Indonesian office week.
- ``holidays``: up to 1000 dates, stored deduplicated and sorted.

Every error is a pydantic ValidationError whose ``loc`` is the field's path (``timezone``,
``weekly.mon.1.end``, ``weekly``), so the API's problem+json names the field. What the
hours mean is in omnistream/sla/business_time.py.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from functools import cache
from typing import Annotated, Literal

import holidays as holiday_calendars
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from omnistream.sla.business_time import MINUTES_PER_DAY, BusinessHours

DayKey = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[DayKey, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS_PER_DAY = 8
MAX_HOLIDAYS = 1000
HOLIDAY_YEARS = range(2000, 2101)

_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|(24):(00)")
_WEEK = 7 * MINUTES_PER_DAY
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})  # host-dependent or no zone


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def _minute_of_day(value: str) -> int:
    match = _TIME.fullmatch(value)
    assert match is not None  # checked by Interval's validators
    hour, minute = (match[1], match[2]) if match[1] else (match[3], match[4])
    return int(hour) * 60 + int(minute)


class Interval(BaseModel):
    """Open from ``start`` to ``end`` local time; an ``end`` at or before ``start`` is on
    the next day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(examples=["08:00"], description="HH:MM, 00:00 to 23:59")
    end: str = Field(examples=["17:00"], description="HH:MM, 00:00 to 24:00")

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if not _TIME.fullmatch(value) or value == "24:00":
            raise PydanticCustomError("time", "must be a time HH:MM from 00:00 to 23:59")
        return value

    @field_validator("end")
    @classmethod
    def _end(cls, value: str) -> str:
        if not _TIME.fullmatch(value):
            raise PydanticCustomError("time", "must be a time HH:MM from 00:00 to 24:00")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Interval:
        if _minute_of_day(self.start) == _minute_of_day(self.end):
            raise ValidationError.from_exception_data(
                "Interval",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "empty_interval", "must differ from start (use 00:00-24:00 for all day)"
                        ),
                        loc=("end",),
                        input=self.end,
                    )
                ],
            )
        return self

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes from the start day's midnight; end past 1440 overnight."""
        start, end = _minute_of_day(self.start), _minute_of_day(self.end)
        return start, end if end > start else end + MINUTES_PER_DAY


def _office_week() -> dict[DayKey, list[Interval]]:
    return {day: [Interval(start="08:00", end="17:00")] for day in DAYS[:6]}


class BusinessHoursSpec(BaseModel):
    """An SLA policy's business hours as JSON; ``to_hours()`` gives the computable form."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(default="Asia/Jakarta", examples=["Asia/Jakarta"])
    always: bool = Field(default=False, description="24/7 (holidays still apply)")
    weekly: dict[DayKey, Annotated[list[Interval], Field(max_length=MAX_INTERVALS_PER_DAY)]] = (
        Field(default_factory=_office_week, description="Missing days are closed")
    )
    holidays: list[date] = Field(default_factory=list, max_length=MAX_HOLIDAYS)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in _zone_names():
            raise PydanticCustomError(
                "timezone", "must be an IANA timezone such as Asia/Jakarta or Europe/Berlin"
            )
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[date]) -> list[date]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _schedule(self) -> BusinessHoursSpec:
        errors: list[InitErrorDetails] = []
        if not self.always and not any(self.weekly.values()):
            error = PydanticCustomError(
                "no_hours", "needs at least one interval (or always: true for 24/7)"
            )
            errors.append(InitErrorDetails(type=error, loc=("weekly",), input={}))
        errors.extend(self._overlaps())
        if errors:
            raise ValidationError.from_exception_data("BusinessHoursSpec", errors)
        return self

    def _overlaps(self) -> list[InitErrorDetails]:
        """An error on each interval that overlaps one listed before it, in week order, on
        the week's circle (Sunday's overnight interval runs into Monday)."""
        spans: list[tuple[int, int, DayKey, int, Interval]] = []
        for number, day in enumerate(DAYS):
            for index, interval in enumerate(self.weekly.get(day, [])):
                start, end = interval.minutes()
                base = number * MINUTES_PER_DAY
                spans.append((base + start, base + end, day, index, interval))
        errors: list[InitErrorDetails] = []
        for later, (a, b, day, index, interval) in enumerate(spans):
            for c, d, other_day, other_index, other in spans[:later]:
                if any(a < d + shift and c + shift < b for shift in (-_WEEK, 0, _WEEK)):
                    error = PydanticCustomError(
                        "overlap",
                        "overlaps weekly.{other} ({start}-{end})",
                        {
                            "other": f"{other_day}.{other_index}",
                            "start": other.start,
                            "end": other.end,
                        },
                    )
                    errors.append(
                        InitErrorDetails(
                            type=error,
                            loc=("weekly", day, index),
                            input=interval.model_dump(),
                        )
                    )
                    break
        return errors

    def to_hours(self) -> BusinessHours:
        """The computable form (business_time.BusinessHours); each day's intervals sorted."""
        return BusinessHours(
            timezone=self.timezone,
            always=self.always,
            weekly=tuple(
                tuple(sorted(interval.minutes() for interval in self.weekly.get(day, [])))
                for day in DAYS
            ),
            holidays=frozenset(self.holidays),
        )


def public_holidays(
    country: str, year: int, subdivision: str | None = None
) -> list[tuple[date, str]]:
    """A country's (or one of its subdivisions') public holidays in a year, by date, from
    the ``holidays`` package: ``public_holidays("ID", 2026)`` has (2026-08-17, "Independence
    Day"). ValueError for an unknown country or subdivision, or a year outside 2000-2100."""
    if year not in HOLIDAY_YEARS:
        raise ValueError(f"year must be from 2000 to 2100, got {year}")
    code = country.strip().upper()
    supported = holiday_calendars.list_supported_countries()
    if code not in supported:
        raise ValueError(f"no holiday calendar for country {country!r} (an ISO 3166 code)")
    if subdivision is not None and subdivision not in supported[code]:
        choices = ", ".join(supported[code]) or "none"
        raise ValueError(
            f"no holiday calendar for subdivision {subdivision!r} of {code} (known: {choices})"
        )
    calendar = holiday_calendars.country_holidays(code, subdiv=subdivision, years=year)
    return sorted(calendar.items())
