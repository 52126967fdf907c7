"""Message and media API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from omnistream.kit.enums import Channel
from omnistream.kit.errors import Unprocessable
from omnistream.kit.openapi import HTTPS_LINK
from omnistream.messages.enums import Direction, MessageStatus, MessageType
from omnistream.templates.schemas import TemplateSend

TEXT_MAX = 4096  # WhatsApp's limit for a text body; the strictest of the channels
CAPTION_MAX = 1024
MAX_ATTACHMENTS = 10  # files of one email reply (attachment_ids)
ATTACHMENTS_MAX_BYTES = 25 * 1024 * 1024  # their total: what most mail servers still take


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
        description="text: {text}; media: {caption?, filename?, link?}; location: {latitude, "
        "longitude, name?, address?}; reaction: {emoji, target_message_id}; interactive (sent): "
        "{type, body, header?, footer?, buttons? | button + sections?}; template (sent): "
        "{template_id, name, language, text (the body filled in), header?, body?, buttons?}; "
        "email (sent): {text, subject?, cc?, attachments?: [{filename, content_type, size, "
        "media_id, url, inline}]}; email (received): {subject, from, to, cc, date, message_id, "
        "in_reply_to, references, text, preview, html, attachments, auto_reply, defects}; "
        "other types as received."
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
    recovering_since: datetime | None = Field(
        description="Set while a pending reply waits to be sent again because the worker "
        "that was sending it stopped (a crash or a kill): it goes out after a short grace "
        "period (docs/crash-safety.md). Cleared when a worker takes it up again."
    )


Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class ReplyButton(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    title: Short = Field(description="At most 20 characters (WhatsApp).")


class ListRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24)]
    description: Annotated[str, StringConstraints(max_length=72)] | None = None


class ListSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(max_length=24)] | None = None
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class Interactive(BaseModel):
    """WhatsApp reply buttons (1 to 3) or a list (1 to 10 rows in all, opened by `button`)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["button", "list"]
    body: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    header: Annotated[str, StringConstraints(max_length=60)] | None = None
    footer: Annotated[str, StringConstraints(max_length=60)] | None = None
    buttons: list[ReplyButton] | None = Field(None, min_length=1, max_length=3)
    button: Short | None = Field(None, description="list: the label that opens the list")
    sections: list[ListSection] | None = Field(None, min_length=1, max_length=10)

    def content(self) -> dict[str, Any]:
        """The stored content, once the rules across fields hold (422 naming the field)."""
        needed: dict[str, tuple[str, ...]] = {
            "button": ("buttons",),
            "list": ("button", "sections"),
        }
        for name in ("buttons", "button", "sections"):
            given = getattr(self, name) is not None
            if given != (name in needed[self.type]):
                verb = "is not allowed on" if given else "is required for"
                raise Unprocessable.field(f"interactive.{name}", f"{verb} a {self.type}")
        if self.buttons is not None:
            ids, titles = {b.id for b in self.buttons}, {b.title for b in self.buttons}
            if len(ids) != len(self.buttons) or len(titles) != len(self.buttons):
                raise Unprocessable.field("interactive.buttons", "ids and titles must be unique")
        for i, section in enumerate(self.sections or []):
            if len(self.sections or []) > 1 and not section.title:
                raise Unprocessable.field(
                    f"interactive.sections.{i}.title", "is required when there are several"
                )
        rows = [r.id for section in self.sections or [] for r in section.rows]
        if len(rows) > 10:
            raise Unprocessable.field(
                "interactive.sections", f"a list has at most 10 rows in all, got {len(rows)}"
            )
        if len(set(rows)) != len(rows):
            raise Unprocessable.field("interactive.sections", "row ids must be unique")
        return self.model_dump(exclude_none=True)


class MessageCreate(BaseModel):
    """An agent's reply: {type: text, text}; {type: image|video|audio|document, media_id |
    link, caption?} where media_id is an upload to this conversation and link a public
    http(s) URL; {type: interactive, interactive} (WhatsApp); {type: reaction, emoji,
    reply_to_message_id} (WhatsApp, Messenger, and Instagram with ❤️ only; an empty emoji
    removes our reaction); {quick_reply_id}
    (type quick_reply, implied): the quick reply rendered for this conversation, sent as text
    or, with its media_url, as an image or document link with the text as caption;
    {type: template, template: {template_id | name + language, parameters: {header?, body?,
    buttons?}}} (WhatsApp; allowed outside the 24-hour window, see docs/reply-tools.md)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal[
        "text",
        "image",
        "video",
        "audio",
        "document",
        "interactive",
        "reaction",
        "quick_reply",
        "template",
    ]
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX)] | None = None
    media_id: UUID | None = None
    link: Annotated[str, StringConstraints(max_length=2000), HTTPS_LINK] | None = Field(
        None, description="A public https:// link of the file (instead of media_id)."
    )
    caption: Annotated[str, StringConstraints(max_length=CAPTION_MAX)] | None = None
    interactive: Interactive | None = None
    emoji: Annotated[str, StringConstraints(max_length=16)] | None = None
    reply_to_message_id: UUID | None = Field(
        None,
        description="A message of the same conversation this one quotes (for a reaction: the "
        "message reacted to).",
    )
    quick_reply_id: UUID | None = Field(
        None, description="Send this quick reply (type may be left out: quick_reply)."
    )
    template: TemplateSend | None = Field(
        None, description="type template (WhatsApp): an approved template and its parameters."
    )
    subject: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\r\n]*$"
            ),
        ]
        | None
    ) = Field(
        None,
        description="Email only: the subject of a new thread (a reply in a thread keeps the "
        "thread's subject, with one Re:).",
    )
    cc: Annotated[list[EmailStr], Field(max_length=20)] | None = Field(
        None, description="Email only: addresses to copy (at most 20)."
    )
    attachment_ids: Annotated[list[UUID], Field(max_length=MAX_ATTACHMENTS)] | None = Field(
        None,
        description="Email only, with type text: uploads of this conversation (ready) sent "
        f"as the mail's attachments, at most {MAX_ATTACHMENTS} and "
        f"{ATTACHMENTS_MAX_BYTES // (1024 * 1024)} MiB in all; repeated ids count once. "
        "With attachments the text may be empty. Stored in content.attachments as "
        "[{filename, content_type, size, media_id, url, inline: false}], the shape of a "
        "received mail's attachments.",
    )

    @model_validator(mode="before")
    @classmethod
    def _quick_reply_type(cls, data: Any) -> Any:
        # A quick reply decides its own type (text, image or document), so none is needed.
        if isinstance(data, dict) and data.get("quick_reply_id") is not None:
            return {"type": "quick_reply", **data}
        return data


class MediaOut(BaseModel):
    id: UUID
    conversation_id: UUID
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    url: str
