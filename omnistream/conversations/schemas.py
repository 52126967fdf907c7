"""Conversation API shapes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from omnistream.kit.enums import Channel, ConversationStatus


class ConversationOut(BaseModel):
    id: UUID
    contact_id: UUID
    assigned_agent_id: UUID | None
    division_id: UUID | None
    channel: Channel
    integration_account_id: UUID | None
    status: ConversationStatus
    last_message_at: datetime
    last_message_preview: str
    last_inbound_at: datetime | None
    unread_count: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
