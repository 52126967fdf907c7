"""The event envelope clients receive, and a published event as the hub fans it out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from omnistream.conversations.visibility import State, parse_audience
from omnistream.events.types import EventType


class EventEnvelope(BaseModel):
    """One domain event, exactly as WebSocket clients (and webhooks) receive it."""

    id: UUID = Field(description="Unique id of the event (stable across replays)")
    seq: int = Field(
        description="Publication order: strictly increasing, the cursor clients resume after"
    )
    # A plain string: an event written by a newer release is still delivered by this one.
    type: str = Field(json_schema_extra={"enum": [t.value for t in EventType]})
    occurred_at: datetime = Field(description="When the change happened (its transaction)")
    actor: dict[str, Any] | None = Field(
        description='Who caused it: {"type": "agent", "id", "name"} or {"type": "system"}'
    )
    data: dict[str, Any] = Field(description="The type's payload (docs/events.md)")
    version: int = Field(description="Envelope/payload version of this type")


@dataclass(frozen=True)
class PublishedEvent:
    """An event with a publication seq, who may see it, and its frame serialised once."""

    seq: int
    audience: list[Mapping[str, Any]]
    states: tuple[State, ...]  # the audience parsed once, for Viewer.sees
    envelope: EventEnvelope
    frame: str  # {"type": "event", "event": {...}}: the same text for every socket


# The columns every published-event query selects (and from_row reads).
ENVELOPE_COLUMNS = "id, seq, type, occurred_at, actor, data, version, audience"


def envelope_of(row: asyncpg.Record | Mapping[str, Any]) -> EventEnvelope:
    """The envelope of a published outbox row (ENVELOPE_COLUMNS)."""
    return EventEnvelope(
        id=row["id"],
        seq=row["seq"],
        type=row["type"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        data=row["data"],
        version=row["version"],
    )


def from_row(row: asyncpg.Record | Mapping[str, Any]) -> PublishedEvent:
    envelope = envelope_of(row)
    frame = '{"type":"event","event":' + envelope.model_dump_json() + "}"
    audience = list(row["audience"] or [])
    return PublishedEvent(row["seq"], audience, parse_audience(audience), envelope, frame)
