"""Search API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from omnistream.conversations.schemas import ConversationItem

HitKind = Literal["message", "note", "contact"]


class SearchHit(BaseModel):
    """The conversation's best hit: its newest matching message or note, else its contact."""

    kind: HitKind = Field(description="What matched: a message, an internal note, the contact.")
    id: UUID = Field(description="The message's, note's or contact's id.")
    created_at: datetime = Field(
        description="When the message or note was written (the contact: when it was created)."
    )
    snippet: str = Field(
        description="HTML: the matching text (message text or caption, note body, or the "
        "contact's name · email · phone), HTML-escaped, cut to about 180 characters around "
        "the first match (… where cut), each match wrapped in <mark></mark>. No other tags."
    )
    message_cursor: str | None = Field(
        None,
        description="Message and note hits: a cursor of GET "
        "/api/v1/conversations/{id}/messages at the hit: with order=desc it pages the "
        "messages before it, with order=asc those after it (a message hit itself is GET "
        "/api/v1/messages/{id}), so a client can open a long conversation at the hit. Null "
        "for contact hits.",
    )


class SearchResult(BaseModel):
    conversation: ConversationItem = Field(description="As the inbox list shows it.")
    hit: SearchHit


class SearchPage(BaseModel):
    items: list[SearchResult]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null at the end."
    )
