"""SLA policy API shapes (docs/sla.md)."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnistream.kit.enums import Channel
from omnistream.kit.openapi import NON_BLANK
from omnistream.sla.hours import BusinessHoursSpec

MAX_MINUTES = 525_600  # a year
DEFAULT_WARNING_PERCENT = 80

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NON_BLANK
]


def _minutes(what: str) -> Any:
    return Field(ge=1, le=MAX_MINUTES, description=f"{what}, in business minutes (at most a year).")


FirstResponse = Annotated[
    int, _minutes("From a conversation's start (or reopening) to an agent's first answer")
]
NextResponse = Annotated[
    int, _minutes("From a customer's message after an agent's answer to the next answer")
]
Resolution = Annotated[int, _minutes("From a conversation's start (or reopening) to resolved")]
WarningPercent = Annotated[
    int,
    Field(
        ge=1,
        le=99,
        description="sla.warning goes out when this share of a target's time has passed.",
    ),
]
ChannelScope = Annotated[
    Channel | None, Field(description="The channel it applies to; null: every channel.")
]
DivisionScope = Annotated[
    UUID | None, Field(description="The division it applies to; null: every division.")
]
Hours = Annotated[
    BusinessHoursSpec,
    Field(
        description="When the clock runs (docs/sla.md#business-hours). Default: Monday to "
        'Saturday 08:00-17:00 Asia/Jakarta; {"always": true} for 24/7.'
    ),
]


class SlaPolicyCreate(BaseModel):
    """At most one policy per (channel, division) pair: null in either is "any"."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    channel: ChannelScope = None
    division_id: DivisionScope = None
    first_response_minutes: FirstResponse
    next_response_minutes: NextResponse | None = None
    resolution_minutes: Resolution
    warning_percent: WarningPercent = DEFAULT_WARNING_PERCENT
    business_hours: Hours = Field(default_factory=BusinessHoursSpec)


class SlaPolicyUpdate(BaseModel):
    """Only the fields given change. channel and division_id may be set to null (any);
    next_response_minutes to null (not tracked); the others must not be null."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    channel: ChannelScope = None
    division_id: DivisionScope = None
    first_response_minutes: FirstResponse | None = None
    next_response_minutes: NextResponse | None = None
    resolution_minutes: Resolution | None = None
    warning_percent: WarningPercent | None = None
    business_hours: Hours | None = None


class SlaPolicyOut(BaseModel):
    id: UUID
    name: str
    channel: Channel | None
    division_id: UUID | None
    division_name: str | None
    first_response_minutes: int
    next_response_minutes: int | None = Field(description="null: next responses untracked.")
    resolution_minutes: int
    warning_percent: int
    business_hours: BusinessHoursSpec
    priority: int = Field(
        description="Specificity: channel and division 4, one of them 2, neither 1 (the "
        "default policy). The most specific matching policy applies; on a tie of 2 the "
        "division policy wins."
    )
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


class HolidayOut(BaseModel):
    date: Date
    name: str = Field(description="The holiday's name in the calendar's language.")
