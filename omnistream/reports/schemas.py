"""The reports' API contract (docs/reports.md defines every figure)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, Field

from omnistream.reports.periods import Grouping


class RangeOut(BaseModel):
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    tz: str
    group: Grouping
    previous_from: date = Field(description="The previous range of as many days, for change")
    previous_to: date

    model_config = {"populate_by_name": True}


class ConversationCounts(BaseModel):
    opened: int = Field(description="Conversations created")
    resolved: int = Field(description="Cycles resolved")
    reopened: int = Field(description="Conversations reopened")
    open_at_end: int = Field(description="Open at the end of the period")


class ConversationPeriod(ConversationCounts):
    period: date = Field(description="The period's first local date")


class ConversationReport(BaseModel):
    range: RangeOut
    totals: ConversationCounts
    previous: ConversationCounts
    unassigned_now: int = Field(description="Open and unassigned right now")
    series: list[ConversationPeriod]


class Durations(BaseModel):
    """Seconds; null when nothing was measured."""

    count: int
    median: float | None
    p90: float | None
    average: float | None


class TimeFigures(BaseModel):
    wall: Durations = Field(description="Wall-clock time")
    business: Durations = Field(
        description="Business time of the SLA policy each conversation has (only those with one)"
    )


class SlaCompliance(BaseModel):
    """Met ÷ (met + breached), in percent; null when no target was decided."""

    first_response: float | None
    next_response: float | None
    resolution: float | None


class ResponsivenessFigures(BaseModel):
    first_response: TimeFigures
    resolution: TimeFigures
    sla_compliance: SlaCompliance


class ResponsivenessPeriod(ResponsivenessFigures):
    period: date


class ResponsivenessReport(BaseModel):
    range: RangeOut
    totals: ResponsivenessFigures
    previous: ResponsivenessFigures
    series: list[ResponsivenessPeriod]


class MessageCounts(BaseModel):
    inbound: int
    outbound: int
    pending: int = Field(description="Outbound not yet sent")
    sent: int = Field(description="Outbound sent, not (yet) delivered")
    delivered: int = Field(description="Outbound delivered, not (yet) read")
    read: int
    failed: int


class MessagePeriod(MessageCounts):
    period: date


class ErrorCount(BaseModel):
    code: str
    failed: int


class MessageReport(BaseModel):
    range: RangeOut
    totals: MessageCounts
    previous: MessageCounts
    top_errors: list[ErrorCount] = Field(description="The ten commonest error codes of failures")
    series: list[MessagePeriod]


class AgentRow(BaseModel):
    agent_id: UUID
    name: str
    email: str
    role: str
    is_active: bool
    conversations_handled: int = Field(description="Cycles resolved while assigned to the agent")
    replies_sent: int
    first_response_median: float | None = Field(description="Seconds, of responses they sent")
    resolution_median: float | None = Field(description="Seconds, of cycles they resolved")
    csat_average: float | None = Field(description="1-5, of surveys about their resolves")
    csat_responses: int


class AgentReport(BaseModel):
    range: RangeOut
    agents: list[AgentRow]


class HeatmapReport(BaseModel):
    range: RangeOut
    cells: list[list[int]] = Field(
        description="Inbound messages: 7 rows (Monday first) of 24 local hours"
    )
    total: int
