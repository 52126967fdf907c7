"""Conversation API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from omnistream.kit.enums import Channel, ConversationStatus, Priority
from omnistream.labels.schemas import LabelBrief
from omnistream.messages.schemas import TEXT_MAX, MessageOut


class ConversationOut(BaseModel):
    id: UUID
    contact_id: UUID
    assigned_agent_id: UUID | None
    division_id: UUID | None
    channel: Channel
    integration_account_id: UUID | None
    status: ConversationStatus
    priority: Priority = Field(description="none, low, medium, high or urgent (docs/inbox.md).")
    last_message_at: datetime
    last_message_preview: str
    last_inbound_at: datetime | None
    unread_count: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    campaign_id: UUID | None = Field(
        None, description="The broadcast campaign whose message the customer answered."
    )
    # SLA (docs/sla.md): kept by the SLA consumer a moment after each change.
    sla_policy_id: UUID | None = Field(None, description="The SLA policy that applies.")
    sla_first_response_due_at: datetime | None = Field(
        None, description="When the first agent answer of this cycle is due (null: given)."
    )
    sla_next_response_due_at: datetime | None = Field(
        None, description="When an answer to the customer's waiting message is due."
    )
    sla_resolution_due_at: datetime | None = Field(
        None, description="When the conversation is due to be resolved."
    )
    sla_due_at: datetime | None = Field(
        None, description="The earliest of the due times above (past: breached)."
    )
    sla_breached: list[str] = Field(
        default_factory=list, description="Targets breached in this cycle."
    )
    snoozed_until: datetime | None = Field(
        None,
        description="While snoozed: when it wakes (null while snoozed: at the customer's "
        "next message). Null unless status is snoozed (docs/inbox.md#snooze).",
    )
    snoozed_by: UUID | None = Field(None, description="While snoozed: the agent who snoozed it.")
    labels: list[LabelBrief] = Field(
        description="The conversation's labels, by name (docs/inbox.md#labels)."
    )


class ContactBrief(BaseModel):
    id: UUID
    name: str
    phone: str | None
    email: str | None
    profile_pic_url: str | None


class ConversationItem(ConversationOut):
    """A conversation as the inbox lists it: with its contact, assignee's name and the
    integration of its account (the WhatsApp templates a reply may use are that one's)."""

    contact: ContactBrief
    assigned_agent_name: str | None
    integration_id: UUID | None = Field(
        description="The integration of integration_account_id (null without an account)"
    )


class ConversationPage(BaseModel):
    items: list[ConversationItem]
    next_cursor: str | None


class TabCounts(BaseModel):
    mine: int
    unassigned: int
    all_open: int
    cap: int = Field(description="Counts stop at this number; show it as e.g. '10000+'.")


class AssignIn(BaseModel):
    agent_id: UUID


class PriorityIn(BaseModel):
    priority: Priority = Field(description="none, low, medium, high or urgent.")


class TransferIn(BaseModel):
    agent_id: UUID | None = None
    division_id: UUID | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _target(self) -> TransferIn:
        if self.agent_id is None and self.division_id is None:
            # Errors on both fields (not on "body"), so a form shows them next to its inputs.
            error = PydanticCustomError("missing_target", "name an agent_id, a division_id or both")
            raise ValidationError.from_exception_data(
                "TransferIn",
                [
                    InitErrorDetails(type=error, loc=(name,), input=None)
                    for name in ("agent_id", "division_id")
                ],
            )
        return self


class TransferOut(BaseModel):
    id: UUID
    conversation_id: UUID
    from_agent_id: UUID | None
    to_agent_id: UUID | None
    from_division_id: UUID | None
    to_division_id: UUID | None
    transferred_by: UUID | None
    reason: str
    transferred_at: datetime


class TransferResult(BaseModel):
    conversation: ConversationOut
    transfer: TransferOut


class HistoryEntry(BaseModel):
    """One change of a conversation, for the timeline's system lines."""

    id: UUID
    action: str = Field(
        description="assigned, unassigned, taken, transferred, resolved, reopened, snoozed "
        "or unsnoozed"
    )
    agent_id: UUID | None = Field(description="Who did it (null: the customer, by writing)")
    agent_name: str | None
    details: dict[str, Any] = Field(
        description="assigned/taken/unassigned: previous_agent_id, agent_id; "
        "transferred: transfer (from/to agent and division, reason); "
        "reopened by a customer's message: by ('customer'), contact_id; "
        "snoozed: snoozed_until (null: until the customer's next message), "
        "until_next_message; unsnoozed: by (agent, time or customer)"
    )
    created_at: datetime


class EmailConversationCreate(BaseModel):
    """A new email conversation: the agent's first mail to an address (a new thread)."""

    model_config = ConfigDict(extra="forbid")

    account_id: UUID = Field(description="An email account to send from (GET .../email/accounts).")
    to: EmailStr = Field(description="The customer's address; their contact is found or made.")
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        None, description="The name of a new contact (an existing contact keeps theirs)."
    )
    subject: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\r\n]*$"
        ),
    ]
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX)] = Field(
        description="The mail's text (not blank)."
    )
    cc: Annotated[list[EmailStr], Field(max_length=20)] | None = Field(
        None, description="Addresses to copy (at most 20)."
    )
    division_id: UUID | None = Field(
        None,
        description="The conversation's division: one of the caller's (any, for an admin). "
        "Without one it has none, as a conversation opened by an incoming mail.",
    )


class EmailConversationOut(BaseModel):
    conversation: ConversationOut
    message: MessageOut


class EmailAccountOut(BaseModel):
    """An address agents may start email conversations from (an active email integration)."""

    id: UUID = Field(description="The integration account: account_id of a new conversation.")
    address: str
    from_name: str | None
    integration_name: str
