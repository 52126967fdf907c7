"""Notification API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from omnistream.kit.pagination import Page
from omnistream.notifications.kinds import NotificationKind


class NotificationActor(BaseModel):
    id: UUID
    name: str | None


class NotificationOut(BaseModel):
    id: UUID
    kind: NotificationKind
    conversation_id: UUID | None
    note_id: UUID | None = Field(description="The note that mentioned the recipient")
    actor: NotificationActor | None = Field(description="Who caused it; null: the system")
    contact_name: str | None = Field(description="The conversation's contact, as named now")
    data: dict[str, Any] = Field(description="The kind's details (a mention: `excerpt`)")
    created_at: datetime
    read_at: datetime | None


class NotificationPage(Page[NotificationOut]):
    unread_count: int = Field(description="The caller's unread notifications (up to `cap`)")
    cap: int


class UnreadCount(BaseModel):
    unread_count: int
    cap: int = Field(description="Counting stops here: the web app shows 999+")


class MarkedRead(BaseModel):
    marked: int = Field(description="How many were unread")
    unread_count: int
