"""Directory API shapes: names and memberships only (no emails, no settings)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from omnistream.kit.enums import Role


class Colleague(BaseModel):
    id: UUID
    name: str
    role: Role
    division_ids: list[UUID]


class DivisionName(BaseModel):
    id: UUID
    name: str


class Directory(BaseModel):
    agents: list[Colleague]
    divisions: list[DivisionName]
