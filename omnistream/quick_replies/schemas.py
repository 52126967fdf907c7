"""Quick-reply API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from omnistream.messages.schemas import TEXT_MAX

# Stripped before the length check: a blank title is a 422, not a CHECK violation (500).
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX)]
MediaKind = Literal["image", "document"]


def check_media_url(value: str | None) -> str | None:
    """A public http(s) URL (the channel fetches it); an empty string clears it."""
    if value is None or value == "":
        return None
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("must not contain spaces or control characters")
    try:  # ValueError on a malformed host (an unclosed IPv6 bracket) or port (above 65535)
        url = urlsplit(value)
        url.port  # noqa: B018 - read only to have a bad port raise here
    except ValueError:
        raise ValueError("must be an http(s) URL with a valid host and port") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value


MediaUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(check_media_url)
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
    media_url: MediaUrl | None = Field(None, description="A public http(s) URL of an attachment.")
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
