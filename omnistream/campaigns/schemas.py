"""Campaign API shapes: campaigns, their audience, recipients, statistics and opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from omnistream.templates.schemas import HeaderValue

CampaignStatus = Literal[
    "draft", "scheduled", "running", "paused", "completed", "failed", "cancelled"
]
RecipientStatus = Literal["pending", "sent", "delivered", "read", "failed"]
OptOutReason = Literal["agent", "api", "keyword", "meta_131050"]
EDITABLE = ("draft", "scheduled")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Column = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=100)
]


class VariableSource(BaseModel):
    """Where a template variable's value comes from: `value` (the same for everyone) or
    `column` (the recipient's own value: a CSV column, or `name` / `phone`)."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    column: Column | None = None

    @model_validator(mode="after")
    def _one(self) -> VariableSource:
        if (self.value is None) == (self.column is None):
            raise ValueError("give exactly one of value or column")
        return self


Variables = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=100)],
        VariableSource,
    ],
    Field(
        max_length=60,
        description="One entry per template variable: body placeholders by name ('1', '2' "
        "for positional templates, 'order_id' for named ones), 'header' for a text header's "
        "placeholder, 'button.<index>' for a button's parameter.",
        examples=[{"1": {"column": "name"}, "2": {"value": "12 December"}}],
    ),
]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    integration_account_id: UUID = Field(description="The WhatsApp number to send from.")
    template_id: UUID = Field(description="An APPROVED template of that number's integration.")
    variables: Variables = Field(default_factory=dict)
    header: HeaderValue | None = Field(
        None, description="A media or location header's parameter (the same for everyone)."
    )
    division_id: UUID | None = Field(
        None, description="Replies open their conversations in this division."
    )


class CampaignUpdate(BaseModel):
    """Only while the campaign is a draft or scheduled."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    integration_account_id: UUID | None = None
    template_id: UUID | None = None
    variables: Variables | None = None
    header: HeaderValue | None = None
    division_id: UUID | None = None


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_at: datetime | None = Field(
        None, description="When to start; null or absent: now. At most a year ahead."
    )


class Counts(BaseModel):
    total: int
    pending: int
    sent: int
    delivered: int
    read: int
    failed: int
    replied: int


class CampaignOut(BaseModel):
    id: UUID
    name: str
    status: CampaignStatus
    integration_account_id: UUID | None
    account_name: str | None
    template_id: UUID | None
    template_name: str | None
    template_language: str | None
    template_status: str | None
    variables: dict[str, VariableSource]
    header: dict[str, Any] | None
    division_id: UUID | None
    division_name: str | None
    audience_source: Literal["csv", "contacts"] | None
    audience_columns: list[str]
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    failure_reason: str | None
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    counts: Counts


class RejectedRowOut(BaseModel):
    line: int
    reason: Literal["invalid_number", "missing_phone", "missing_variable", "too_long", "opted_out"]
    message: str
    column: str | None
    value: str | None


class AudienceReport(BaseModel):
    """What an audience upload or contacts selection recorded."""

    source: Literal["csv", "contacts"]
    rows: int = Field(description="Data rows read (CSV) or contacts matched.")
    accepted: int = Field(description="Recipients recorded.")
    duplicates: int
    rejected_count: int
    rejected: list[RejectedRowOut] = Field(description="The first 100 rejected rows, by line.")
    columns: list[str] = Field(description="The columns each recipient carries.")


class ContactsFilter(BaseModel):
    """Contacts with a WhatsApp number matching every given condition."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        None, description="Text in the contact's name, phone or email."
    )
    division_id: UUID | None = Field(None, description="Had a conversation in this division.")
    inbound_within_days: int | None = Field(
        None, ge=1, le=3650, description="Wrote to us within this many days."
    )


class AudienceCount(BaseModel):
    count: int = Field(description="Contacts that match (opted-out numbers excluded).")
    opted_out: int = Field(description="Matching contacts left out because they opted out.")


class RecipientOut(BaseModel):
    id: UUID
    phone: str
    name: str
    variables: dict[str, str]
    line: int | None
    contact_id: UUID | None
    status: RecipientStatus
    channel_message_id: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    conversation_id: UUID | None


class FailureGroup(BaseModel):
    error_code: str
    reason: str = Field(description="A readable reason (one recipient's).")
    count: int


class CampaignStats(BaseModel):
    campaign_id: UUID
    status: CampaignStatus
    counts: Counts
    reply_rate: float = Field(description="Replied / sent (sent, delivered or read), 0..1.")
    delivery_rate: float = Field(description="Delivered or read / sent, 0..1.")
    failures: list[FailureGroup] = Field(description="Failed recipients by error code.")


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class OptOutOut(BaseModel):
    phone: str
    reason: OptOutReason
    note: str
    created_by: UUID | None
    campaign_id: UUID | None
    created_at: datetime


class ContactOptOut(BaseModel):
    """Whether a contact's number is opted out of campaigns."""

    contact_id: UUID
    phone: str | None = Field(description="The contact's number (null: none, so never sent to).")
    opted_out: bool
    opt_out: OptOutOut | None = Field(description="The opt-out, when the number is out.")


class SendingAccount(BaseModel):
    """A WhatsApp number campaigns may send from."""

    id: UUID
    display_name: str
    external_id: str = Field(description="Meta's phone_number_id.")
    integration_id: UUID
    integration_name: str
    send_rate_per_second: int = Field(description="The campaign uses a share of it.")
    is_active: bool
    health: str
