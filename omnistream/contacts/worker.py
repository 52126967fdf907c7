"""The profile loop: Messenger and Instagram customers get their names and pictures.

The inbound batch never calls Meta: it marks the sender's identity due (inbound/profiles.py,
on the first message from a PSID / IGSID, and on a later message once the last lookup is
older than OMNISTREAM_PROFILE_REFRESH_HOURS). One tick (`fetch_profiles`) claims due
identities (leased, SKIP LOCKED), asks the Graph API outside any transaction with the page
token of the account that received the message (channels/meta_page/profile.py), and records
each outcome in a transaction of its own:
- fetched: the name (unless an agent named the contact: contacts.name_source) and picture
  are stored; a change emits contact.updated (and a name change an update_contact audit
  row, agent null). The next refresh is scheduled a refresh interval ahead while the
  customer wrote within ACTIVE_SECONDS (picture URLs expire); later, their next message
  marks it due again.
- Meta had trouble, or refused the token (190; the integration is marked auth_failed): tried
  again after 1, 2, 4 ... minutes (at most an hour); after MAX_ATTEMPTS, given up until the
  customer writes again after a refresh interval.
- Meta cannot look the user up (100 / 2018218: blocked, deleted, no consent): nothing is
  stored and no lookup happens for UNAVAILABLE_PAUSE_SECONDS.
A failed lookup never blocks or delays the customer's messages: they are stored already.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import httpx

from omnistream.activity.service import record
from omnistream.channels.meta_page.profile import (
    LookupFailure,
    Profile,
    ProfileError,
    fetch_profile,
)
from omnistream.config import Settings
from omnistream.contacts import profile_queries as queries
from omnistream.contacts.service import audience_of, present
from omnistream.db.listen import notified
from omnistream.db.pool import Conn, Pool, transaction
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.integrations.accounts import AccountConfig, by_id
from omnistream.integrations.credentials import box_from
from omnistream.integrations.health import Health, HealthOutcome, record_health
from omnistream.kit.aio import run_each, wait_for_any
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.kit.net import http_client
from omnistream.workers.liveness import current_key, log_claim

log = logging.getLogger(__name__)
BATCH_SIZE = 20
CONCURRENCY = 4
TIMEOUT_SECONDS = 10.0
LEASE_SECONDS = 120.0  # far longer than one lookup (TIMEOUT_SECONDS)
POLL_SECONDS = 5.0  # retries coming due, a lost NOTIFY
MAX_ATTEMPTS = 8  # about 2 hours of backoff
BACKOFF_BASE_SECONDS = 60.0
BACKOFF_MAX_SECONDS = 3600.0
UNAVAILABLE_PAUSE_SECONDS = 7 * 86400.0
# Refreshed on schedule while the customer wrote within this (Meta's HUMAN_AGENT window:
# agents may still answer, so the conversation is likely on screen).
ACTIVE_SECONDS = 7 * 86400.0


class NotLookedUp(Exception):
    """OmniStream has no usable account to ask with; the next message may bring one."""


def backoff(attempt: int) -> float:
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


async def lookup(client: httpx.AsyncClient, account: AccountConfig | None, row: Any) -> Profile:
    channel = Channel(row["channel"])
    if account is None:
        raise NotLookedUp("the integration account that received the message no longer exists")
    if not account.is_active:
        raise NotLookedUp("the integration is turned off")
    if account.channel is not channel:
        raise NotLookedUp(f"the receiving account is a {account.channel} account")
    if not account.access_token or any(c in account.access_token for c in "\r\n"):
        raise NotLookedUp("the integration has no usable page access token")
    return await fetch_profile(client, account, channel, row["external_id"])


async def _fetched(conn: Conn, settings: Settings, row: Any, profile: Profile) -> None:
    refresh = settings.profile_refresh_hours * 3600.0
    contact_id = await queries.settle(
        conn,
        row["channel"],
        row["external_id"],
        row["profile_attempts"],
        error=None,
        not_before_seconds=refresh,
        refresh_seconds=refresh,
        active_seconds=ACTIVE_SECONDS,
    )
    if contact_id is None:  # the lease ran out meanwhile: another worker has it
        return
    changed = await queries.apply_profile(conn, contact_id, profile.name, profile.picture)
    if changed is None:
        return
    (contact,) = await present(conn, [changed])
    await emit(
        conn,
        EventType.CONTACT_UPDATED,
        contact.model_dump(mode="json"),
        actor=None,
        audience=await audience_of(conn, contact_id),
    )
    if changed["name"] != changed["old_name"]:
        await record(
            conn,
            None,
            "update_contact",
            "contact",
            contact_id,
            changes={"name": changed["name"]},
            source=f"{row['channel']}_profile",
        )


async def _record(
    pool: Pool,
    settings: Settings,
    row: Any,
    account: AccountConfig | None,
    outcome: Profile | ProfileError | NotLookedUp,
) -> None:
    channel, user, attempt = row["channel"], row["external_id"], row["profile_attempts"]
    refresh = settings.profile_refresh_hours * 3600.0
    async with transaction(pool) as tx:
        conn = tx.conn
        if isinstance(outcome, Profile):
            await _fetched(conn, settings, row, outcome)
        elif isinstance(outcome, NotLookedUp):
            await queries.settle(
                conn, channel, user, attempt, error=str(outcome), not_before_seconds=0,
                refresh_seconds=None, active_seconds=0,
            )  # fmt: skip
        elif outcome.failure is LookupFailure.UNAVAILABLE:
            await queries.settle(
                conn, channel, user, attempt, error=outcome.reason,
                not_before_seconds=UNAVAILABLE_PAUSE_SECONDS, refresh_seconds=None,
                active_seconds=0,
            )  # fmt: skip
        else:
            if outcome.failure is LookupFailure.AUTH and account is not None:
                auth_failed = HealthOutcome(Health.AUTH_FAILED, outcome.reason)
                await record_health(conn, account.integration_id, auth_failed)
            if attempt < MAX_ATTEMPTS:
                await queries.retry(conn, channel, user, attempt, backoff(attempt), outcome.reason)
            else:
                await queries.settle(
                    conn, channel, user, attempt,
                    error=f"{outcome.reason} (gave up after {attempt} attempts)",
                    not_before_seconds=refresh, refresh_seconds=None, active_seconds=0,
                )  # fmt: skip


async def _lookup_and_record(
    pool: Pool, settings: Settings, box: SecretBox, client: httpx.AsyncClient, row: Any
) -> None:
    account = None
    outcome: Profile | ProfileError | NotLookedUp
    try:
        if row["profile_account_id"] is not None:
            async with pool.acquire() as conn:
                account = await by_id(conn, box, row["profile_account_id"])
        outcome = await lookup(client, account, row)
    except (ProfileError, NotLookedUp) as exc:
        outcome = exc
    except Exception as exc:  # a bug: retried like a transient error, and logged
        log.exception("profile lookup raised", extra={"channel": row["channel"]})
        outcome = ProfileError(LookupFailure.TRANSIENT, f"unexpected error: {exc}")
    await _record(pool, settings, row, account, outcome)


async def fetch_profiles(
    pool: Pool, settings: Settings, box: SecretBox, limit: int = BATCH_SIZE
) -> int:
    """One tick: claim due lookups, ask Meta, record the outcomes. Returns how many were
    claimed (0: nothing was due)."""
    async with transaction(pool) as tx:
        claimed = await queries.claim(tx.conn, limit, LEASE_SECONDS, current_key())
    log_claim(log, "profile lookups", len(claimed))
    if not claimed:
        return 0
    async with http_client(settings.allow_private_urls, timeout=TIMEOUT_SECONDS) as client:
        await run_each(
            claimed,
            lambda row: _lookup_and_record(pool, settings, box, client, row),
            concurrency=CONCURRENCY,
            log=log,
            failure="could not record a profile lookup",  # database down: the lease retries
        )
    return len(claimed)


async def profile_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Ticks while lookups are due; woken by the inbound batch's NOTIFY, else every
    POLL_SECONDS."""
    box = box_from(settings)
    async with notified(pool, queries.WAKE_CHANNEL) as (_, wake):
        while not stop.is_set():
            wake.clear()
            try:
                handled = await fetch_profiles(pool, settings, box)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: wait, then try again
                log.exception("profile tick failed")
                handled = 0
            if not handled:
                await wait_for_any(wake, stop, seconds=POLL_SECONDS)
