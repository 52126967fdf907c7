"""Division API shapes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class DivisionOut(BaseModel):
    id: UUID
    name: str
    description: str
    member_count: int
    created_at: datetime
    updated_at: datetime


class DivisionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)


class DivisionUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class MemberOut(BaseModel):
    id: UUID
    email: str
    name: str
    role: str
    is_active: bool
    joined_at: datetime
