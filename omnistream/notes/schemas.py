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


class NoteIn(BaseModel):
    body: NoteBody = Field(description="Internal text; never sent to the contact.")


class NoteOut(BaseModel):
    id: UUID
    conversation_id: UUID
    agent_id: UUID | None
    agent_name: str | None
    body: str
    created_at: datetime
