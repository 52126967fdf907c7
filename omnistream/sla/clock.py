"""The SLA clock of one conversation, without I/O: which policy applies, what happened in
its cycle, when its targets are due, and when it must warn and breach.

A cycle starts when the conversation is created and again at each reopen; resolving stops
it. Its targets, each from a start and a number of business minutes of its policy:
- first_response: from the cycle's start until the first message an agent sends;
- next_response: from a customer's message that came after an agent's answer until the
  next agent message (the policy may leave it out);
- resolution: from the cycle's start until the conversation is resolved.
A target is due at start + minutes of business time (sla/business_time.py); it is warned
of once its policy's warning share of that time has passed (once per wait: a new wait for
a next response may warn again) and breached once per cycle.

The policy is chosen again at a new cycle, when the conversation's division changed since
it was chosen, and when it was deleted (or none matched before: one created since may);
an edited policy's new minutes and hours apply at the next evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.sla.business_time import BusinessHours, add_business_time
from omnistream.sla.hours import BusinessHoursSpec

FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION = "first_response", "next_response", "resolution"
TARGETS = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)


@dataclass(frozen=True, slots=True)
class Policy:
    id: UUID
    name: str
    channel: str | None
    division_id: UUID | None
    priority: int
    first_response_minutes: int
    next_response_minutes: int | None
    resolution_minutes: int
    warning_percent: int
    hours: BusinessHours

    @classmethod
    def of(cls, row: asyncpg.Record | Mapping[str, Any]) -> Policy:
        return cls(
            id=row["id"],
            name=row["name"],
            channel=row["channel"],
            division_id=row["division_id"],
            priority=row["priority"],
            first_response_minutes=row["first_response_minutes"],
            next_response_minutes=row["next_response_minutes"],
            resolution_minutes=row["resolution_minutes"],
            warning_percent=row["warning_percent"],
            hours=BusinessHoursSpec.model_validate(row["business_hours"]).to_hours(),
        )

    def minutes(self, target: str) -> int | None:
        if target == FIRST_RESPONSE:
            return self.first_response_minutes
        if target == NEXT_RESPONSE:
            return self.next_response_minutes
        return self.resolution_minutes


def choose(policies: Iterable[Policy], channel: str, division_id: UUID | None) -> Policy | None:
    """The most specific policy matching a conversation: channel + division (4), then
    division or channel (2; on that tie the division's wins), then the default (1)."""
    matching = (
        p
        for p in policies
        if p.channel in (None, channel) and (p.division_id is None or p.division_id == division_id)
    )
    return max(matching, key=lambda p: (p.priority, p.division_id is not None), default=None)


def _matches(policy: Policy, clock: Clock) -> bool:
    """Whether the policy still fits (an edit may have moved it to another pair)."""
    return policy.channel in (None, clock.channel) and policy.division_id in (
        None,
        clock.division_id,
    )


@dataclass(frozen=True, slots=True)
class Alert:
    """A warning or breach to announce (and, a breach, to log)."""

    kind: str  # "warning" | "breached"
    target: str
    due_at: datetime
    policy: Policy


@dataclass(slots=True)
class Clock:
    """A conversation's SLA columns (conversations.sla_*), with what the clock needs of it."""

    id: UUID
    status: str
    channel: str
    division_id: UUID | None
    assigned_agent_id: UUID | None
    policy_id: UUID | None = None
    policy_division_id: UUID | None = None
    cycle: int = 0
    started_at: datetime | None = None
    first_response_at: datetime | None = None
    waiting_since: datetime | None = None
    warned: set[str] = field(default_factory=set)
    breached: set[str] = field(default_factory=set)
    version: int = 0  # conversations.sla_version as read
    # Computed by evaluate():
    dues: dict[str, datetime] = field(default_factory=dict)
    due_at: datetime | None = None
    check_at: datetime | None = None
    repick: bool = False

    @classmethod
    def of(cls, row: asyncpg.Record | Mapping[str, Any]) -> Clock:
        dues = {t: row[f"sla_{t}_due_at"] for t in TARGETS if row[f"sla_{t}_due_at"] is not None}
        return cls(
            id=row["id"],
            status=row["status"],
            channel=row["channel"],
            division_id=row["division_id"],
            assigned_agent_id=row["assigned_agent_id"],
            policy_id=row["sla_policy_id"],
            policy_division_id=row["sla_division_id"],
            cycle=row["sla_cycle"],
            started_at=row["sla_started_at"],
            first_response_at=row["sla_first_response_at"],
            waiting_since=row["sla_waiting_since"],
            warned=set(row["sla_warned"]),
            breached=set(row["sla_breached"]),
            version=row["sla_version"],
            dues=dues,
            due_at=row["sla_due_at"],
            check_at=row["sla_check_at"],
        )

    def columns(self) -> tuple[Any, ...]:
        """The stored values, in queries.STATE_COLUMNS' order."""
        return (
            self.policy_id,
            self.policy_division_id,
            self.cycle,
            self.started_at,
            self.first_response_at,
            self.waiting_since,
            self.dues.get(FIRST_RESPONSE),
            self.dues.get(NEXT_RESPONSE),
            self.dues.get(RESOLUTION),
            self.due_at,
            self.check_at,
            sorted(self.warned),
            sorted(self.breached),
        )

    # What happened ---------------------------------------------------------------------

    def start_cycle(self, at: datetime) -> None:
        """Created or reopened: a new cycle, its policy chosen again."""
        self.cycle += 1
        self.started_at = at
        self.first_response_at = self.waiting_since = None
        self.warned, self.breached = set(), set()
        self.repick = True

    def agent_answered(self, at: datetime) -> bool:
        """An agent's message; whether it changed the clock."""
        if self.started_at is None:
            return False  # no cycle (a conversation from before SLA existed)
        if self.first_response_at is not None and self.waiting_since is None:
            return False
        if self.first_response_at is None:
            self.first_response_at = at
        self.waiting_since = None
        self.warned.discard(NEXT_RESPONSE)
        return True

    def customer_wrote(self, at: datetime) -> bool:
        """A customer's message: after an agent's answer it starts a next-response wait
        (while one runs, later messages do not move it); whether it changed the clock."""
        if self.started_at is None or self.first_response_at is None:
            return False
        if self.waiting_since is not None:
            return False
        self.waiting_since = at
        return True

    def moved(self, status: str, division_id: UUID | None, assigned_agent_id: UUID | None) -> None:
        """The conversation's current row (status, division, assignee)."""
        self.status, self.division_id, self.assigned_agent_id = (
            status,
            division_id,
            assigned_agent_id,
        )

    # When ------------------------------------------------------------------------------

    def _policy(self, policies: Mapping[UUID, Policy]) -> Policy | None:
        current = policies.get(self.policy_id) if self.policy_id else None
        moved = self.division_id != self.policy_division_id
        if self.repick or current is None or moved or not _matches(current, self):
            current = choose(policies.values(), self.channel, self.division_id)
            self.policy_id = current.id if current else None
            self.policy_division_id = self.division_id
            self.repick = False
        return current

    def _targets(self, policy: Policy) -> dict[str, datetime]:
        """Each running target's start."""
        assert self.started_at is not None
        out = {}
        if self.first_response_at is None:
            out[FIRST_RESPONSE] = self.started_at
        if self.waiting_since is not None and policy.next_response_minutes:
            out[NEXT_RESPONSE] = self.waiting_since
        out[RESOLUTION] = self.started_at
        return out

    def evaluate(self, policies: Mapping[UUID, Policy], now: datetime) -> list[Alert]:
        """Due times, the alerts due by `now` (each recorded as given), and the next check."""
        self.dues, self.due_at, self.check_at = {}, None, None
        # A snoozed conversation's clock keeps running (docs/inbox.md#snooze): parking it
        # is the team's choice, the customer's promise still stands.
        if self.status == "resolved" or self.started_at is None:
            return []
        policy = self._policy(policies)
        if policy is None:
            return []
        alerts: list[Alert] = []
        checks: list[datetime] = []
        for target, start in self._targets(policy).items():
            minutes = policy.minutes(target)
            assert minutes is not None
            due = add_business_time(policy.hours, start, minutes)
            if due is None:
                continue  # never within the horizon (hours with no open time left)
            self.dues[target] = due
            if target in self.breached:
                continue
            if due <= now:
                alerts.append(Alert("breached", target, due, policy))
                self.breached.add(target)
                self.warned.add(target)  # late: the breach says it all
                continue
            checks.append(due)
            if target in self.warned:
                continue
            warn = add_business_time(policy.hours, start, minutes * policy.warning_percent / 100)
            if warn is None:
                continue
            if warn <= now:
                alerts.append(Alert("warning", target, due, policy))
                self.warned.add(target)
            else:
                checks.append(warn)
        self.due_at = min(self.dues.values(), default=None)
        self.check_at = min(checks, default=None)
        return alerts
