"""Automatic assignment API shapes (Settings › Assignment)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from omnistream.kit.enums import Channel

CAPACITY_MAX = 1000
Capacity = Annotated[int, Field(ge=0, le=CAPACITY_MAX)]


class DivisionSetting(BaseModel):
    division_id: UUID
    name: str
    enabled: bool
    updated_at: datetime | None = None


class AssignmentSettings(BaseModel):
    global_enabled: bool = Field(
        description="Automatic assignment of the conversations without a division (to every "
        "online agent)."
    )
    divisions: list[DivisionSetting] = Field(description="Every division, by name.")


class DivisionSettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    division_id: UUID
    enabled: bool


class AssignmentSettingsIn(BaseModel):
    """What to change; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    global_enabled: bool | None = None
    divisions: list[DivisionSettingIn] = Field(default_factory=list, max_length=1000)


class AgentCapacity(BaseModel):
    agent_id: UUID
    name: str
    email: str
    role: str
    presence: str
    capacity: int = Field(description="Open conversations automatic assignment may give in all.")
    channels: dict[Channel, int] = Field(description="Lower limits on single channels.")
    open: int = Field(description="The agent's open conversations now.")


class AgentCapacities(BaseModel):
    items: list[AgentCapacity]


class AgentCapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity: Capacity = Field(description="0: never assigned automatically.")
    channels: dict[Channel, Capacity] = Field(
        default_factory=dict,
        description="Per-channel capacities (replaces the agent's); a channel left out has "
        "none of its own.",
    )
