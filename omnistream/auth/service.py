"""Login, refresh rotation, logout and password change. Services never commit."""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import UUID

from omnistream.activity.service import record
from omnistream.auth import queries, tokens
from omnistream.auth.principal import Principal
from omnistream.auth.schemas import TokenPair
from omnistream.context import AppContext
from omnistream.db.pool import Tx
from omnistream.kit.errors import AppError, TooManyRequests, Unauthorized, Unprocessable


async def _issue(tx: Tx, ctx: AppContext, agent_id: UUID, session_id: UUID) -> TokenPair:
    refresh, refresh_hash = tokens.new_refresh_token()
    await queries.insert_refresh_token(tx.conn, session_id, refresh_hash)
    ttl = ctx.settings.access_token_ttl_seconds
    access = tokens.issue_access(ctx.settings.signing_key, agent_id, session_id, ttl)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def in_minutes(seconds: int) -> str:
    """A lockout's wait as people say it: whole minutes, rounded up ("1 minute", "15 minutes");
    the exact seconds stay in Retry-After and `retry_after`."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


async def login(
    tx: Tx, ctx: AppContext, email: str, password: str, ip: str | None, user_agent: str | None
) -> TokenPair | AppError:
    """Returns the tokens, or the error to raise once the attempt's records have committed."""
    email = email.strip().lower()
    settings = ctx.settings
    conn = tx.conn
    await queries.lock_email(conn, email)
    failures = await queries.recent_failures(
        conn, email, settings.login_window_seconds, settings.login_max_failures
    )
    if len(failures) >= settings.login_max_failures:
        unlock_at = failures[-1] + timedelta(seconds=settings.login_window_seconds)
        wait = max(1, math.ceil((unlock_at - await queries.db_now(conn)).total_seconds()))
        await record(conn, None, "login_locked", "agent", None, email=email, ip=ip)
        return TooManyRequests(
            f"Too many failed sign-ins for this email; try again in {in_minutes(wait)}",
            headers={"Retry-After": str(wait)},
            extra={"retry_after": wait},
        )
    agent = await queries.agent_for_login(conn, email)
    verdict = await ctx.passwords.verify(agent["password_hash"] if agent else None, password)
    if not verdict.ok or agent is None:
        await queries.record_attempt(conn, email, False, ip)
        await record(
            conn,
            agent["id"] if agent else None,
            "login_failed",
            "agent",
            agent["id"] if agent else None,
            email=email,
            ip=ip,
            reason="bad_credentials",
        )
        return Unauthorized("wrong email or password")
    if not agent["is_active"]:
        await queries.record_attempt(conn, email, False, ip)
        await record(
            conn,
            agent["id"],
            "login_failed",
            "agent",
            agent["id"],
            email=email,
            ip=ip,
            reason="deactivated",
        )
        return Unauthorized("this account is deactivated; ask an administrator")
    if verdict.needs_rehash:  # parameters changed since the hash was made
        await queries.set_password_hash(conn, agent["id"], await ctx.passwords.hash(password))
    await queries.record_attempt(conn, email, True, ip)
    session_id = await queries.create_session(
        conn, agent["id"], settings.refresh_token_ttl_days, user_agent, ip
    )
    await record(conn, agent["id"], "login", "agent", agent["id"], ip=ip, session_id=session_id)
    return await _issue(tx, ctx, agent["id"], session_id)


async def refresh(tx: Tx, ctx: AppContext, refresh_token: str) -> TokenPair | AppError:
    token_hash = tokens.hash_refresh_token(refresh_token)
    row = await queries.claim_refresh_token(tx.conn, token_hash)
    if row is None:
        return Unauthorized("the refresh token is not valid")
    if row["used_at"] is not None:
        # A rotated token came back: someone holds a copy. End the whole session.
        await queries.revoke_session(tx.conn, row["session_id"])
        await queries.notify_auth_changed(tx.conn, row["agent_id"])
        await record(
            tx.conn,
            row["agent_id"],
            "refresh_token_reused",
            "agent",
            row["agent_id"],
            session_id=row["session_id"],
        )
        return Unauthorized("the refresh token was already used; the session has been ended")
    if not row["session_ok"] or not row["is_active"]:
        return Unauthorized("the session has ended; sign in again")
    await queries.mark_refresh_used(tx.conn, token_hash, row["session_id"])
    await record(
        tx.conn, row["agent_id"], "refresh", "agent", row["agent_id"], session_id=row["session_id"]
    )
    return await _issue(tx, ctx, row["agent_id"], row["session_id"])


async def logout(tx: Tx, ctx: AppContext, principal: Principal) -> None:
    await queries.revoke_session(tx.conn, principal.session_id)
    await queries.notify_auth_changed(tx.conn, principal.agent_id)
    await record(
        tx.conn, principal, "logout", "agent", principal.agent_id, session_id=principal.session_id
    )
    tx.after_commit(lambda: ctx.principals.evict_agent(principal.agent_id))


async def change_password(
    tx: Tx, ctx: AppContext, principal: Principal, current: str, new: str
) -> AppError | None:
    """None when changed, else the error to raise once the attempt's records have committed:
    a wrong current password counts against the login limit of the agent's email, so a
    stolen access token cannot be used to guess the password without limit."""
    settings = ctx.settings
    email = principal.email.strip().lower()
    await queries.lock_email(tx.conn, email)
    failures = await queries.recent_failures(
        tx.conn, email, settings.login_window_seconds, settings.login_max_failures
    )
    if len(failures) >= settings.login_max_failures:
        unlock_at = failures[-1] + timedelta(seconds=settings.login_window_seconds)
        wait = max(1, math.ceil((unlock_at - await queries.db_now(tx.conn)).total_seconds()))
        return TooManyRequests(
            f"Too many wrong passwords for this account; try again in {in_minutes(wait)}",
            headers={"Retry-After": str(wait)},
            extra={"retry_after": wait},
        )
    stored = await queries.password_hash(tx.conn, principal.agent_id)
    if not (await ctx.passwords.verify(stored, current)).ok:
        await queries.record_attempt(tx.conn, email, False, None)
        await record(
            tx.conn,
            principal,
            "password_change_failed",
            "agent",
            principal.agent_id,
            reason="wrong_current_password",
        )
        return Unprocessable.field("current_password", "is not your current password")
    if current == new:
        raise Unprocessable.field("new_password", "must differ from the current password")
    await queries.set_password_hash(tx.conn, principal.agent_id, await ctx.passwords.hash(new))
    ended = await queries.revoke_agent_sessions(
        tx.conn, principal.agent_id, keep=principal.session_id
    )
    await queries.notify_auth_changed(tx.conn, principal.agent_id)
    await record(
        tx.conn,
        principal,
        "password_changed",
        "agent",
        principal.agent_id,
        other_sessions_ended=ended,
    )
    tx.after_commit(lambda: ctx.principals.evict_agent(principal.agent_id))
    return None
