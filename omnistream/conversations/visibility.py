"""Who may see a conversation — the one rule, in Python (events) and SQL (queries).

- admin: every conversation;
- supervisor: conversations of their divisions and those with no division;
- agent: conversations assigned to them, plus unassigned ones in their divisions or with
  no division.

A conversation one may not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from omnistream.auth.principal import Principal
from omnistream.kit.enums import Role


@dataclass(frozen=True)
class Scope:
    role: Role
    agent_id: UUID
    division_ids: frozenset[UUID]

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        return cls(principal.role, principal.agent_id, principal.division_ids)

    def params(self) -> tuple[str, UUID, list[UUID]]:
        """The three values VISIBLE_SQL expects, in order."""
        return self.role.value, self.agent_id, sorted(self.division_ids)

    def can_see(self, division_id: UUID | None, assigned_agent_id: UUID | None) -> bool:
        if self.role is Role.ADMIN:
            return True
        in_scope = division_id is None or division_id in self.division_ids
        if self.role is Role.SUPERVISOR:
            return in_scope
        return assigned_agent_id == self.agent_id or (assigned_agent_id is None and in_scope)

    def can_see_any(self, audience: list[Mapping[str, Any]]) -> bool:
        """An event's audience: the conversation states it concerns (see events.outbox)."""
        if audience and audience[0].get("recipient"):  # see recipient()
            return any(_uuid(s.get("recipient")) == self.agent_id for s in audience)
        if not audience:
            return self.role in (Role.ADMIN, Role.SUPERVISOR)
        return any(
            self.role is Role.ADMIN
            if s.get("admins")
            else self.role in (Role.ADMIN, Role.SUPERVISOR)
            if s.get("staff")
            else self.can_see(_uuid(s.get("division_id")), _uuid(s.get("assigned_agent_id")))
            for s in audience
        )


def _uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))


def visible_sql(alias: str, role: int, me: int, divisions: int) -> str:
    """The rule as a SQL predicate on conversation `alias`, given parameter numbers."""
    c, r, m, d = alias, f"${role}::text", f"${me}::uuid", f"${divisions}::uuid[]"
    return (
        f"({r} = 'admin'"
        f" OR ({r} = 'supervisor' AND ({c}.division_id IS NULL OR {c}.division_id = ANY({d})))"
        f" OR ({r} = 'agent' AND ({c}.assigned_agent_id = {m} OR ({c}.assigned_agent_id IS NULL"
        f" AND ({c}.division_id IS NULL OR {c}.division_id = ANY({d}))))))"
    )


def seen_by_sql(agent: str, conversation: str) -> str:
    """The rule as a SQL predicate on agents row `agent` and conversation `conversation`:
    whether that agent (active or not) may see it (e.g. who may be mentioned in a note)."""
    a, c = agent, conversation
    in_scope = (
        f"({c}.division_id IS NULL OR EXISTS (SELECT 1 FROM agent_divisions ad"
        f" WHERE ad.agent_id = {a}.id AND ad.division_id = {c}.division_id))"
    )
    return (
        f"({a}.role = 'admin' OR ({a}.role = 'supervisor' AND {in_scope})"
        f" OR ({a}.role = 'agent' AND ({c}.assigned_agent_id = {a}.id"
        f" OR ({c}.assigned_agent_id IS NULL AND {in_scope}))))"
    )


def state(division_id: UUID | None, assigned_agent_id: UUID | None) -> dict[str, str | None]:
    """One audience entry."""
    return {
        "division_id": str(division_id) if division_id else None,
        "assigned_agent_id": str(assigned_agent_id) if assigned_agent_id else None,
    }


# An audience entry for "every admin and supervisor", whatever the other entries say: for
# events about what they see regardless of conversations (contacts). Agents never match it.
STAFF: dict[str, Any] = {"staff": True}
_STAFF_STATE = ("*", "*")  # its parsed form; never a real (division_id, assigned_agent_id)
# An audience entry for admins only (outgoing webhooks' settings): nobody else matches it.
ADMINS: dict[str, Any] = {"admins": True}
_ADMINS_STATE = ("!", "!")  # in no one's scope, assigned to no one
# Assigned to this id: no agent matches, so a state (division, NOBODY) reaches admins and
# that division's supervisors only (campaign events).
NOBODY = "00000000-0000-0000-0000-000000000000"


def recipient(agent_id: UUID) -> dict[str, str]:
    """An audience of one agent, whatever their role (their own notifications): an audience
    made of such entries only reaches those agents; not even admins see it."""
    return {"recipient": str(agent_id)}


_RECIPIENT = "@"  # recipient()'s parsed form: ("@", agent id); "@" is no division


def supervisors_of(division_id: UUID) -> dict[str, str | None]:
    """An audience entry for admins and the supervisors of one division."""
    return {"division_id": str(division_id), "assigned_agent_id": NOBODY}


# The fan-out's fast path: an event's audience parsed once into string pairs, and each
# socket's scope kept as strings, so a check is a few set lookups (no UUID parsing per
# socket per event). Scope.can_see_any above is the reference it must agree with.
State = tuple[str | None, str | None]  # (division_id, assigned_agent_id)


def parse_audience(audience: list[Mapping[str, Any]]) -> tuple[State, ...]:
    return tuple(
        (_RECIPIENT, _text(s.get("recipient")))
        if s.get("recipient")
        else _ADMINS_STATE
        if s.get("admins")
        else _STAFF_STATE
        if s.get("staff")
        else (_text(s.get("division_id")), _text(s.get("assigned_agent_id")))
        for s in audience
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value).lower()


@dataclass(frozen=True)
class Viewer:
    role: Role
    agent_id: str
    division_ids: frozenset[str]

    @classmethod
    def of(cls, scope: Scope) -> Viewer:
        return cls(scope.role, str(scope.agent_id), frozenset(str(d) for d in scope.division_ids))

    def sees(self, states: tuple[State, ...]) -> bool:
        if states and states[0][0] == _RECIPIENT:
            return any(agent == self.agent_id for _, agent in states)
        role = self.role
        if role is Role.ADMIN:
            return True
        if not states:
            return role is Role.SUPERVISOR
        divisions = self.division_ids
        for division, assignee in states:
            # "*" (STAFF) is in no agent's scope and assigned to no one: supervisors only.
            in_scope = division is None or division in divisions or division == "*"
            if role is Role.SUPERVISOR:
                if in_scope:
                    return True
            elif assignee == self.agent_id or (assignee is None and in_scope):
                return True
        return False
