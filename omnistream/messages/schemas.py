"""Message and media API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnistream.kit.enums import Channel
from omnistream.messages.enums import Direction, MessageStatus, MessageType

TEXT_MAX = 4096  # WhatsApp's limit for a text body; the strictest of the channels
CAPTION_MAX = 1024


class MediaRef(BaseModel):
    id: UUID
    mime_type: str
    filename: str
    size_bytes: int | None
    status: str
    url: str = Field(description="GET it with the same bearer token.")


class MessageOut(BaseModel):
    id: UUID
    conversation_id: UUID
    channel: Channel
    channel_message_id: str | None
    direction: Direction
    type: MessageType
    content: dict[str, Any] = Field(
        description="text: {text}; media: {caption?, filename?}; location: {latitude, "
        "longitude, name?, address?}; reaction: {emoji, message_id}; other types as received."
    )
    reply_to_id: UUID | None
    media_id: UUID | None
    media: MediaRef | None
    status: MessageStatus
    sender_agent_id: UUID | None
    error_code: str | None
    error_reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None


class MessageCreate(BaseModel):
    """An agent's reply: {type: text, text} or {type: image|video|audio|document, media_id,
    caption?} where media_id is an upload to this conversation."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "image", "video", "audio", "document"]
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX)] | None = None
    media_id: UUID | None = None
    caption: Annotated[str, StringConstraints(max_length=CAPTION_MAX)] | None = None
    reply_to_message_id: UUID | None = Field(
        None, description="A message of the same conversation this one quotes."
    )


class MediaOut(BaseModel):
    id: UUID
    conversation_id: UUID
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    url: str
