"""Activity log API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class ActivityOut(BaseModel):
    id: UUID
    agent_id: UUID | None = Field(description="Who acted; null: the system or an unknown login.")
    agent_name: str | None = Field(description="That agent's name now.")
    action: str
    target_type: str | None
    target_id: UUID | None
    target_name: str | None = Field(
        description="The target as people know it: an agent's or division's name, a "
        "conversation's contact, a quick reply's title, a template's name (language), a "
        "label's name; once "
        "the target is gone, the name the entry kept."
    )
    metadata: dict[str, Any]
    names: dict[str, str] = Field(
        description="Names of the agents and divisions the metadata refers to by id "
        "(agent_id, previous_agent_id, a transfer's from / to), by id."
    )
    created_at: datetime
