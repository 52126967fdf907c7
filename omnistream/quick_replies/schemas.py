"""Quick-reply API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from omnistream.kit.links import LINK_MAX, link_problem
from omnistream.kit.openapi import HTTPS_LINK_OR_EMPTY, NON_BLANK
from omnistream.messages.schemas import TEXT_MAX

# Stripped before the length check: a blank title is a 422, not a CHECK violation (500).
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NON_BLANK
]
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX), NON_BLANK
]
MediaKind = Literal["image", "document"]


def check_media_url(value: str | None) -> str | None:
    """A public https:// link that is not a program (kit.links); "" clears it."""
    if value is None or value == "":
        return None
    if found := link_problem(value):
        raise PydanticCustomError(*found)
    return value


MediaUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=LINK_MAX),
    AfterValidator(check_media_url),
    HTTPS_LINK_OR_EMPTY,
]


class QuickReplyOut(BaseModel):
    id: UUID
    division_id: UUID | None = Field(description="null: a global reply, visible to everyone")
    division_name: str | None
    title: str
    body: str = Field(description="May contain placeholders, e.g. {{contact.name}}.")
    media_url: str | None
    media_type: MediaKind | None = Field(
        description="How media_url is sent: image (.jpg, .jpeg, .png) or document (anything else)."
    )
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    is_favorite: bool = Field(description="Pinned by the signed-in agent.")
    can_manage: bool = Field(description="The signed-in agent may edit or delete it.")


class QuickReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = Field(description="Shown in the picker; `/ref` finds titles starting with ref.")
    body: Body = Field(description="Text (or caption with media); placeholders allowed.")
    media_url: MediaUrl | None = Field(
        None, description="A public https:// link of an attachment (not a program)."
    )
    division_id: UUID | None = Field(None, description="null: global (admins only)")


class QuickReplyUpdate(BaseModel):
    """Only the fields given change; `media_url: null` removes the attachment and
    `division_id: null` makes the reply global (admins only)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    media_url: MediaUrl | None = None
    division_id: UUID | None = None

    @field_validator("title", "body", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for values actually sent: leaving a field out keeps it, null is an error.
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: UUID = Field(
        description="Whose contact and conversation fill the placeholders."
    )


class RenderOut(BaseModel):
    quick_reply_id: UUID
    conversation_id: UUID
    text: str = Field(description="The body with every placeholder replaced.")
    media_url: str | None
    media_type: MediaKind | None
