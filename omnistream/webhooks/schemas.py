"""Outgoing-webhook API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from omnistream.events.types import EventType

URL_MAX = 2000
ALL_EVENTS = "*"
# What an endpoint may subscribe to: every domain event but the test event (always sent).
SUBSCRIBABLE = sorted(t.value for t in EventType if t is not EventType.WEBHOOK_PING)
DeliveryStatus = Literal["pending", "success", "failed"]


def _check_events(value: list[str]) -> list[str]:
    unknown = [e for e in value if e != ALL_EVENTS and e not in SUBSCRIBABLE]
    if unknown:
        raise PydanticCustomError(
            "webhook_event",
            "unknown event type(s): {unknown}; see docs/events.md, or use * for all",
            {"unknown": ", ".join(unknown[:5])},
        )
    if len(set(value)) != len(value):
        raise PydanticCustomError("webhook_event_repeated", "lists an event type twice")
    return [ALL_EVENTS] if ALL_EVENTS in value else value


Events = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]],
    Field(
        min_length=1,
        max_length=len(SUBSCRIBABLE) + 1,
        description='Event types to receive (docs/events.md), or ["*"] for all of them.',
        json_schema_extra={"items": {"enum": [ALL_EVENTS, *SUBSCRIBABLE]}},
    ),
    AfterValidator(_check_events),
]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_MAX),
    Field(
        description="Where events are POSTed: https:// (http:// only when "
        "OMNISTREAM_ALLOW_PRIVATE_URLS is on), never a private or local address.",
        examples=["https://crm.example.com/hooks/omnistream"],
    ),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Concurrency = Annotated[
    int, Field(ge=1, le=32, description="Requests in flight to this endpoint at most.")
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url
    description: Description = ""
    events: Events
    is_active: bool = True
    max_concurrency: Concurrency = 4


class WebhookUpdate(BaseModel):
    """Only the fields given change. is_active=true on a disabled endpoint resumes it with
    the events published from then on."""

    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    description: Description | None = None
    events: Events | None = None
    is_active: bool | None = None
    max_concurrency: Concurrency | None = None


class WebhookOut(BaseModel):
    id: UUID
    url: str
    description: str
    events: list[str]
    is_active: bool
    max_concurrency: int
    disabled_reason: Literal["failing"] | None = Field(
        description="failing: switched off because every delivery failed for days "
        "(OMNISTREAM_WEBHOOK_AUTO_DISABLE_DAYS); null when active or disabled by an admin."
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last successful one."
    )
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until then deliveries are signed with both secrets."
    )
    pending: int = Field(description="Deliveries waiting for their (next) attempt.")
    failed_24h: int = Field(description="Deliveries created in the last 24 hours that failed.")
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="The signing secret (whsec_…). Shown only now: store it; it is never "
        "returned again (rotate to get a new one).",
    )


class DeliveryOut(BaseModel):
    id: UUID
    webhook_id: UUID
    event_id: UUID = Field(description="The webhook-id header: the same on every attempt.")
    event_seq: int = Field(description="The event's seq; 0 for a test event.")
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="Attempts since it was created or last redelivered.")
    next_retry_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last attempt, if any.")
    last_error: str | None
    last_attempt_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


class AttemptOut(BaseModel):
    id: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="null: no HTTP answer (see error)")
    response_body: str | None = Field(description="The first 2 KB of the answer.")
    error: str | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="The event envelope that is sent.")
    attempt_log: list[AttemptOut]


class RedeliverFailed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: datetime = Field(description="Every failed delivery created since then is retried.")


class Redelivered(BaseModel):
    redelivered: int
