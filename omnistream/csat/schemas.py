"""CSAT API shapes (docs/csat.md): the settings with their default texts, and a survey."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from omnistream.kit.enums import Channel

LANGUAGES = ("en", "id")
# Channels a survey can go out on (all of them since email sends).
SURVEY_CHANNELS = (Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM, Channel.EMAIL)
FEEDBACK_MAX = 2000
DEFAULT_INTERVAL_DAYS = 7

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
# WhatsApp list rows and Messenger / Instagram quick replies: titles of at most 20 characters.
Option = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class SurveyTexts(BaseModel):
    """What the customer reads, in one language."""

    model_config = ConfigDict(extra="forbid")

    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=900)
    ] = Field(description="The survey message's text.")
    options: list[Option] = Field(
        min_length=5, max_length=5, description="The labels of scores 1 to 5, in order."
    )
    button: Option = Field(description="WhatsApp: the label that opens the list.")
    thanks: Line = Field(description="Sent after a score: thanks and the feedback invitation.")
    link_intro: Line = Field(description="Before the page link, when the link is added.")
    page_title: Line
    page_comment: Line = Field(description="The page's comment box label.")
    page_submit: Option
    page_done: Line = Field(description="The page after an answer (or a second visit).")
    page_expired: Line
    page_invalid: Line
    email_reply: Line = Field(
        description="Email: after the question and the 5 scores, how to answer (a reply with "
        "a number from 1 to 5). Left out: the language's default."
    )


DEFAULT_TEXTS: dict[str, SurveyTexts] = {
    "en": SurveyTexts(
        question="Thanks for contacting us! How would you rate the help you received?",
        options=["1 - Very poor", "2 - Poor", "3 - Okay", "4 - Good", "5 - Excellent"],
        button="Rate us",
        thanks="Thank you for your rating! Anything else to tell us? Just reply within 10 minutes.",
        link_intro="Or answer on this page:",
        page_title="How did we do?",
        page_comment="Anything else to tell us? (optional)",
        page_submit="Send",
        page_done="Thank you! Your answer has been recorded.",
        page_expired="This survey has expired.",
        page_invalid="This survey link is not valid.",
        email_reply="Just reply to this email with a number from 1 to 5 (5 is best). "
        "You can add a comment below the number.",
    ),
    "id": SurveyTexts(
        question="Terima kasih telah menghubungi kami! Bagaimana penilaian Anda atas bantuan "
        "yang Anda terima?",
        options=["1 - Sangat buruk", "2 - Buruk", "3 - Cukup", "4 - Baik", "5 - Sangat baik"],
        button="Beri nilai",
        thanks="Terima kasih atas penilaian Anda! Ada masukan lain? Balas saja dalam 10 menit.",
        link_intro="Atau jawab di halaman ini:",
        page_title="Bagaimana layanan kami?",
        page_comment="Ada masukan lain? (opsional)",
        page_submit="Kirim",
        page_done="Terima kasih! Jawaban Anda sudah kami terima.",
        page_expired="Survei ini sudah kedaluwarsa.",
        page_invalid="Tautan survei ini tidak valid.",
        email_reply="Cukup balas email ini dengan angka 1 sampai 5 (5 terbaik). Anda bisa "
        "menambahkan komentar di bawah angka tersebut.",
    ),
}


# Texts added after settings were first stored: left out (settings saved before, a client
# that does not know them), each language gets its default.
ADDED_TEXTS = ("email_reply",)


class Texts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    en: SurveyTexts = DEFAULT_TEXTS["en"]
    id: SurveyTexts = DEFAULT_TEXTS["id"]

    @model_validator(mode="before")
    @classmethod
    def _added_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for code in LANGUAGES:
            texts = filled.get(code)
            if isinstance(texts, dict):
                missing = {k: getattr(DEFAULT_TEXTS[code], k) for k in ADDED_TEXTS}
                filled[code] = missing | texts
        return filled

    def of(self, language: str) -> SurveyTexts:
        return self.id if language == "id" else self.en


class CsatSettings(BaseModel):
    """PUT /api/v1/csat/settings (the whole settings) and its answer."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(
        default_factory=list,
        description="The channels that send a survey when a conversation is resolved "
        "(whatsapp, messenger, instagram, email). Default: none.",
    )
    interval_days: int = Field(
        DEFAULT_INTERVAL_DAYS,
        ge=0,
        le=365,
        description="At most one survey per contact in this many days (0: no limit).",
    )
    language: Literal["auto", "en", "id"] = Field(
        "auto",
        description="The survey's language; auto: Bahasa Indonesia for WhatsApp numbers of "
        "Indonesia (+62), English otherwise.",
    )
    include_link: bool = Field(
        False, description="Add the public page's link to the survey message (needs public_url)."
    )
    public_url: AnyHttpUrl | None = Field(
        None,
        description="Where OmniStream's /csat/{token} pages are reachable from the internet "
        "(e.g. https://help.example.com).",
    )
    texts: Texts = Field(default_factory=Texts, description="The texts in English and Indonesian.")

    def model_post_init(self, context: Any) -> None:
        self.channels = list(dict.fromkeys(self.channels))

    def link_base(self) -> str | None:
        """The base of page links, or None when no link is added."""
        if not self.include_link or self.public_url is None:
            return None
        return str(self.public_url).rstrip("/")


class CsatSurveyOut(BaseModel):
    """A survey: sent or skipped, and its answer."""

    id: UUID
    conversation_id: UUID
    contact_id: UUID
    channel: str | None
    division_id: UUID | None
    agent_id: UUID | None = Field(description="The conversation's assignee when resolved.")
    language: str
    status: Literal["pending", "sent", "answered", "skipped", "failed"]
    skip_reason: str | None = Field(
        description="skipped: disabled, window_closed, recent_survey, channel_unsupported, "
        "no_recipient, reopened; failed: the send's error."
    )
    score: int | None
    feedback: str | None
    answered_via: Literal["button", "page", "text"] | None
    message_id: UUID | None = Field(description="The survey message in the timeline.")
    answer_message_id: UUID | None = Field(description="The customer's answer message.")
    created_at: datetime
    survey_sent_at: datetime | None
    responded_at: datetime | None
    feedback_at: datetime | None
    expires_at: datetime | None


class CsatSummary(BaseModel):
    """All the answered surveys that match the filters (not one page of them)."""

    responses: int = Field(description="How many answered.")
    average: float | None = Field(description="Their mean score (1-5); null with none.")
    satisfied_percent: float | None = Field(
        description="The share that scored 4 or 5, in percent (the usual CSAT score); null "
        "with none."
    )
    scores: dict[Literal["1", "2", "3", "4", "5"], int] = Field(
        description="How many gave each score."
    )
