"""The snooze request (POST /api/v1/conversations/{id}/snooze)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class SnoozeIn(BaseModel):
    """Exactly one of `until`, `until_next_message` or `preset`."""

    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime | None = Field(
        None,
        description="Wake at this time (with a UTC offset; in the future, at most 365 days "
        "ahead). The customer writing earlier wakes it too.",
    )
    until_next_message: bool = Field(
        False, description="true: no time, it wakes when the customer next writes."
    )
    preset: Literal["tomorrow", "next_week"] | None = Field(
        None,
        description="tomorrow: 09:00 of the next day in `timezone`; next_week: 09:00 of "
        "next Monday there.",
    )
    timezone: str | None = Field(
        None,
        max_length=64,
        description="IANA zone for the preset (the web app sends the browser's); default: "
        "the agent's profile time zone (agents.timezone, UTC unless set).",
    )
