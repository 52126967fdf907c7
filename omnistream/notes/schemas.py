"""Note API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from omnistream.kit.openapi import NON_BLANK

NoteBody = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000), NON_BLANK
]
MAX_MENTIONS = 20  # as the column's CHECK (migration 0031)


class NoteIn(BaseModel):
    body: NoteBody = Field(description="Internal text; never sent to the contact.")
    mentions: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_MENTIONS,
        description=(
            "Agents mentioned (the body shows them as @Name). Each must be able to see the "
            "conversation (else 422 naming `mentions`); each but the author is notified."
        ),
    )


class Mention(BaseModel):
    id: UUID
    name: str


class NoteOut(BaseModel):
    id: UUID
    conversation_id: UUID
    agent_id: UUID | None
    agent_name: str | None
    body: str
    mentions: list[Mention] = Field(description="The agents the note mentions, in order.")
    created_at: datetime


class MentionableAgent(BaseModel):
    """An active agent who may see the conversation: one a note may mention."""

    id: UUID
    name: str
    role: str
