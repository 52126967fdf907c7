"""The one permission table: every route declares exactly one of these."""

from __future__ import annotations

from enum import StrEnum

from omnistream.kit.enums import Role


class Perm(StrEnum):
    PUBLIC = "public"  # no token needed (login, refresh, health, docs)
    SELF = "self"  # any signed-in agent: own profile, own password, logout
    AGENTS_READ = "agents.read"
    AGENTS_MANAGE = "agents.manage"
    DIVISIONS_READ = "divisions.read"
    DIVISIONS_MANAGE = "divisions.manage"
    ACTIVITY_READ = "activity.read"


MATRIX: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(p for p in Perm if p is not Perm.PUBLIC),
    Role.SUPERVISOR: frozenset({Perm.SELF, Perm.AGENTS_READ, Perm.DIVISIONS_READ}),
    Role.AGENT: frozenset({Perm.SELF}),
}


def allowed(role: Role, perm: Perm) -> bool:
    return perm is Perm.PUBLIC or perm in MATRIX[role]
