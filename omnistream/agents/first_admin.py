"""The admin the first start creates, and its password until somebody signs in.

The password is generated, stored only as its argon2id hash and shown once on the console.
A start that fails after creating the admin (before showing it), or a console that was
closed, would leave an installation nobody can enter: so while nobody has signed in yet,
every start replaces the unused password with a new one and shows that. An admin made with
`omnistream create-admin` is never touched, and neither is anyone once somebody signed in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from omnistream.activity.service import record
from omnistream.agents import queries
from omnistream.auth import queries as auth_queries
from omnistream.auth.passwords import Passwords
from omnistream.db.pool import Conn, Tx
from omnistream.kit.enums import Role

# Held (session advisory lock) by the one process that issues and shows the password, for
# as long as it runs: a process starting meanwhile must not replace the password on show.
ISSUER_LOCK_ID = 0x6F6D6E6966616431


@dataclass(frozen=True)
class FirstAdminPassword:
    email: str
    password: str
    replaced: bool  # an earlier password, never used, was replaced by this one


def _new_password() -> str:
    return secrets.token_urlsafe(12)


async def ensure_first_admin(tx: Tx, passwords: Passwords, email: str) -> FirstAdminPassword | None:
    """Creates the admin on an empty database, or gives the first start's admin a new
    password while nobody has signed in; None otherwise. The caller holds ISSUER_LOCK_ID."""
    conn = tx.conn
    await queries.lock_agents_table(conn)
    if await queries.count(conn) == 0:
        password = _new_password()
        row = await queries.insert(
            conn, email.lower(), "Administrator", Role.ADMIN, await passwords.hash(password)
        )
        assert row is not None
        await record(
            conn,
            None,
            "create_agent",
            "agent",
            row["id"],
            email=email,
            role="admin",
            bootstrap=True,
        )
        return FirstAdminPassword(row["email"], password, replaced=False)
    waiting = await queries.first_admin_awaiting_sign_in(conn)
    if waiting is None:
        return None
    password = _new_password()
    await auth_queries.set_password_hash(conn, waiting["id"], await passwords.hash(password))
    await record(
        conn,
        None,
        "reset_password",
        "agent",
        waiting["id"],
        email=waiting["email"],
        reason="first start's admin never signed in; new password shown on the console",
    )
    return FirstAdminPassword(waiting["email"], password, replaced=True)


async def awaits_sign_in(conn: Conn) -> bool:
    """True while the first start's admin has a password on show and nobody signed in."""
    return await queries.first_admin_awaiting_sign_in(conn) is not None
