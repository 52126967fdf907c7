"""Directory API shapes: names and memberships only (no emails, no settings)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from omnistream.kit.enums import Presence, Role


class Colleague(BaseModel):
    id: UUID
    name: str
    role: Role
    presence: Presence  # live changes arrive as agent.presence events
    division_ids: list[UUID]


class DivisionName(BaseModel):
    id: UUID
    name: str


class Directory(BaseModel):
    agents: list[Colleague]
    divisions: list[DivisionName]
