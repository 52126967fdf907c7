"""Division API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints

from omnistream.kit.openapi import NON_BLANK

# Stripped before the length check: a blank name is a 422, not a CHECK violation (500).
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NON_BLANK
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class DivisionOut(BaseModel):
    id: UUID
    name: str
    description: str
    member_count: int
    created_at: datetime
    updated_at: datetime


class DivisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    name: Name
    description: Description = ""


class DivisionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None


class MemberOut(BaseModel):
    id: UUID
    email: str
    name: str
    role: str
    is_active: bool
    joined_at: datetime
