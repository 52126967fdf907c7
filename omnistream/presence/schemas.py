"""Availability API shapes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from omnistream.kit.enums import Presence


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: Presence
    automatic: bool = Field(
        False,
        description="Sent by the web app itself, not chosen: 'away' after idling (only over "
        "'online'), 'online' on input again (back to the agent's choice). The choice is kept.",
    )


class PresenceOut(BaseModel):
    agent_id: UUID
    presence: Presence = Field(description="What colleagues see; only 'online' receives work")
    choice: Presence = Field(description="What the agent chose (restored on reconnect/input)")
    changed_at: datetime = Field(description="When `presence` last changed")
