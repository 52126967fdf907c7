"""Agent API shapes. password_hash never appears in any of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from omnistream.auth.passwords import MAX_LENGTH, MIN_LENGTH
from omnistream.kit.enums import Presence, Role
from omnistream.kit.openapi import NON_BLANK

# Stripped before the length check: a blank name is a 422, not a CHECK violation (500).
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NON_BLANK
]


class AgentProfile(BaseModel):
    id: UUID
    email: str
    name: str
    role: Role
    is_active: bool
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AgentOut(AgentProfile):
    presence: Presence = Field(description="online, away or offline (docs/inbox.md#availability)")
    presence_changed_at: datetime


class DivisionRef(BaseModel):
    id: UUID
    name: str


class MeOut(AgentProfile):
    divisions: list[DivisionRef]
    permissions: list[str]


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    email: EmailStr
    name: Name
    role: Role = Role.AGENT
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class AgentUpdate(BaseModel):
    """Only these; email and password have their own rules (unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None


class PasswordReset(BaseModel):
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
