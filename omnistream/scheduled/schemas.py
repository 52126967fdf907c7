"""Scheduled message API shapes: the body of a reply plus when to send it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from omnistream.messages.schemas import MessageCreate

WHEN = (
    "ISO 8601 with a time zone (e.g. 2026-12-01T09:00:00+07:00); a time without one, or one "
    "in the past, answers 422."
)


class ScheduledStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ScheduledCreate(MessageCreate):
    """The body of a reply (POST …/messages: text, media by media_id or link, interactive,
    template, or quick_reply_id, rendered when scheduled) plus `scheduled_at`. Reactions
    cannot be scheduled."""

    scheduled_at: AwareDatetime = Field(description=WHEN)

    def message(self) -> MessageCreate:
        """The reply part, as stored and sent."""
        return MessageCreate.model_validate(self.model_dump(exclude={"scheduled_at"}))


class ScheduledUpdate(BaseModel):
    """Move it, change the message, or both, while it is pending. `message` replaces the
    whole message (same shape as a reply)."""

    model_config = ConfigDict(extra="forbid")

    scheduled_at: AwareDatetime | None = Field(None, description=WHEN)
    message: MessageCreate | None = None

    @field_validator("scheduled_at", "message", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Given as null is not "left out": name the field rather than the whole body.
        if value is None:
            raise ValueError("may not be null; leave it out to keep it")
        return value

    @model_validator(mode="after")
    def _something(self) -> ScheduledUpdate:
        if self.scheduled_at is None and self.message is None:
            raise ValueError("give scheduled_at, message or both")
        return self


class ScheduledOut(BaseModel):
    id: UUID
    conversation_id: UUID
    agent_id: UUID | None = Field(description="Who scheduled it (null: agent deleted).")
    type: str = Field(description="The message type (text, image, …, template).")
    message: dict[str, Any] = Field(description="The message as given (the reply body).")
    scheduled_at: datetime
    status: ScheduledStatus
    message_id: UUID | None = Field(description="sent: the message created in the timeline.")
    error: str | None = Field(description="failed: why, in words.")
    late: bool = Field(description="Sent (or failed) well after its time, e.g. after downtime.")
    note: str | None = Field(
        description="e.g. that the conversation was resolved, or its agent deactivated, by then."
    )
    processed_at: datetime | None = Field(description="When the worker sent or failed it.")
    created_at: datetime
    updated_at: datetime
