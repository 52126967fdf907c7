"""Bulk action API shapes: what to do, to which conversations (ids or the list's filter),
and what happened to each."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from omnistream.conversations.schemas import ConversationOut
from omnistream.kit.enums import Channel, ConversationStatus, Priority
from omnistream.snooze.schemas import SnoozeIn

MAX_ITEMS = 1000  # conversations in one bulk action, by ids or by filter
LABELS_MAX = 20  # label ids in the filter, as the list's


class BulkAction(StrEnum):
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    TRANSFER = "transfer"
    ADD_LABEL = "add_label"
    REMOVE_LABEL = "remove_label"
    SET_PRIORITY = "set_priority"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    SNOOZE = "snooze"
    UNSNOOZE = "unsnooze"


# What each action needs besides the conversations (checked in service.check_params).
NEEDS: dict[BulkAction, tuple[str, ...]] = {
    BulkAction.ASSIGN: ("agent_id",),
    BulkAction.TRANSFER: ("reason",),  # and agent_id and/or division_id
    BulkAction.ADD_LABEL: ("label_id",),
    BulkAction.REMOVE_LABEL: ("label_id",),
    BulkAction.SET_PRIORITY: ("priority",),
    BulkAction.SNOOZE: ("snooze",),
}


class BulkFilter(BaseModel):
    """The conversation list's filter, with the names and values of GET /conversations'
    parameters: the conversations it lists to the caller, in its order, up to MAX_ITEMS."""

    model_config = ConfigDict(extra="forbid")

    status: ConversationStatus | None = None
    channel: Channel | None = None
    assignee: Annotated[str, Field(max_length=40)] | None = Field(
        None, description="me, unassigned or an agent id"
    )
    division_id: UUID | None = None
    contact_id: UUID | None = None
    unread: bool = False
    q: Annotated[str, Field(max_length=200)] | None = None
    sla: Literal["breached", "due_soon"] | None = None
    priority: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="One or several priorities, comma-separated"
    )
    label: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="One or several label ids, comma-separated"
    )
    sort: Literal["last_message_at", "created_at", "sla_due_at", "priority"] = "last_message_at"

    # The list's checks of its text parameters (conversations/routes.py), here as validators
    # so a refusal names the field inside `filter`; label ids must also exist (service).
    @field_validator("assignee")
    @classmethod
    def _assignee(cls, value: str | None) -> str | None:
        if value is not None and value not in ("me", "unassigned"):
            try:
                UUID(value)
            except ValueError:
                raise ValueError("must be 'me', 'unassigned' or an agent id") from None
        return value

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str | None) -> str | None:
        if value is not None and not set(_split(value)) <= set(Priority):
            raise ValueError(f"must be one or several of {', '.join(Priority)}, comma-separated")
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ids = {UUID(n) for n in _split(value)}
        except ValueError:
            raise ValueError("must be one or several label ids, comma-separated") from None
        if len(ids) > LABELS_MAX:
            raise ValueError(f"at most {LABELS_MAX} labels")
        return value

    def assignee_value(self) -> str | UUID | None:
        """ "me", "unassigned" or an agent's id, as ListFilter takes it."""
        if self.assignee in (None, "me", "unassigned"):
            return self.assignee
        return UUID(self.assignee)

    def priorities(self) -> tuple[Priority, ...]:
        return tuple(dict.fromkeys(Priority(n) for n in _split(self.priority)))

    def label_ids(self) -> tuple[UUID, ...]:
        return tuple(dict.fromkeys(UUID(n) for n in _split(self.label)))


def _split(value: str | None) -> list[str]:
    return [] if value is None else [n.strip() for n in value.split(",")]


class BulkIn(BaseModel):
    """One action on many conversations: `ids`, or `filter`, not both."""

    model_config = ConfigDict(extra="forbid")

    action: BulkAction = Field(
        description="assign (agent_id), unassign, transfer (agent_id and/or division_id, "
        "reason), add_label / remove_label (label_id), set_priority (priority), resolve, reopen, "
        "snooze (snooze: as POST /conversations/{id}/snooze's body), unsnooze"
    )
    ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_ITEMS)] | None = Field(
        None, description=f"The conversations, at most {MAX_ITEMS} (a repeated id counts once)"
    )
    filter: BulkFilter | None = Field(
        None,
        description=f"Instead of ids: the conversations the list shows the caller with this "
        f"filter, in its order, the first {MAX_ITEMS}",
    )
    agent_id: UUID | None = None
    division_id: UUID | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    label_id: UUID | None = None
    priority: Priority | None = None
    snooze: SnoozeIn | None = Field(
        None,
        description="snooze: until, until_next_message or preset (the wake time is "
        "computed once, the same for every conversation)",
    )


class ItemProblem(BaseModel):
    status: int = Field(description="What the single action would have answered: 404, 409, 422")
    title: str
    detail: str


class BulkItem(BaseModel):
    id: UUID
    ok: bool
    conversation: ConversationOut | None = Field(
        None, description="Done (or nothing to change): the conversation as it is now"
    )
    problem: ItemProblem | None = Field(
        None,
        description="Refused, with nothing written for it. An id one may not see answers "
        "404, exactly as one that does not exist",
    )


class BulkResult(BaseModel):
    done: int
    refused: int
    items: list[BulkItem] = Field(description="One per conversation, in the order asked")


class BulkSelectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filter: BulkFilter


class BulkSelection(BaseModel):
    ids: list[UUID] = Field(description=f"In the list's order, at most {MAX_ITEMS}")
    capped: bool = Field(description=f"More than {MAX_ITEMS} match: only the first are listed")
