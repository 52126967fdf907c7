"""Taking over a dead worker's claims (omnistream/workers): claims carry the claiming worker's
liveness key; while the key's advisory lock is held nothing is touched, however old the
claim; once it is free (the worker's connection died) the work is due again after the grace
period, replies are marked recovering_since and their message.updated events go out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from omnistream.campaigns import send_queries as campaign_queries
from omnistream.contacts import profile_queries
from omnistream.context import AppContext
from omnistream.inbound.queries import claim_media
from omnistream.messages import outbound_queries, receipt_queries
from omnistream.webhooks import delivery_queries as webhook_queries
from omnistream.workers import queries as worker_queries
from omnistream.workers.takeover import take_over
from tests.channels.test_channel_outbound import connect
from tests.channels.test_ratelimit import pending
from tests.conftest import Agent
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401

GRACE = 20.0


class Holder:
    """A worker's liveness lock on a connection of its own (what WorkerIdentity holds)."""

    def __init__(self, conn: asyncpg.Connection[asyncpg.Record], key: int) -> None:
        self.conn, self.key = conn, key

    async def die(self) -> None:
        self.conn.terminate()  # as a SIGKILL does: the server ends the session, lock freed


@pytest.fixture
async def holders(test_dsn: str) -> AsyncIterator[list[Holder]]:
    made: list[Holder] = []
    yield made
    for holder in made:
        holder.conn.terminate()


async def hold(test_dsn: str, holders: list[Holder], key: int) -> Holder:
    conn = await asyncpg.connect(test_dsn)
    assert await worker_queries.try_lock(conn, key)
    holder = Holder(conn, key)
    holders.append(holder)
    return holder


async def claim(ctx: AppContext, owner: int) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        return await outbound_queries.claim_due(conn, 50, 300, 0.5, owner)


async def messages(ctx: AppContext) -> dict[str, asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id::text, claimed_by, recovering_since, next_attempt_at - now() AS due_in "
            "FROM messages"
        )
    return {r["id"]: r for r in rows}


async def test_a_live_owner_keeps_its_claims_and_a_dead_ones_are_taken_over(
    ctx: AppContext, sandbox: Sandbox, test_dsn: str, holders: list[Holder]
) -> None:
    _, account = await connect(ctx, sandbox)
    ids = {str(i) for i in await pending(ctx, account, 4, conversations=4)}
    alive = await hold(test_dsn, holders, 7001)
    doomed = await hold(test_dsn, holders, 7002)
    async with ctx.pool.acquire() as conn:
        two = await outbound_queries.claim_due(conn, 2, 300, 0.5, alive.key)
        rest = await outbound_queries.claim_due(conn, 50, 300, 0.5, doomed.key)
    assert len(two) == 2 and len(rest) == 2
    # Both owners hold their locks: nothing is taken over, however long the lease.
    nothing = {
        "messages": 0, "read_receipts": 0, "media": 0, "profiles": 0, "webhook_deliveries": 0,
        "campaign_recipients": 0,
    }  # fmt: skip
    assert await take_over(ctx.pool, GRACE) == nothing
    before = await messages(ctx)
    assert {r["claimed_by"] for r in before.values()} == {alive.key, doomed.key}
    assert all(r["due_in"] > timedelta(seconds=250) for r in before.values())

    await doomed.die()
    async with ctx.pool.acquire() as conn:
        seq = await conn.fetchval("SELECT coalesce(max(pos), 0) FROM event_outbox")
    assert (await take_over(ctx.pool, GRACE))["messages"] == 2
    after = await messages(ctx)
    taken = {str(r["id"]) for r in rest}
    for message_id in ids:
        row = after[message_id]
        if message_id in taken:  # back in its place (when written), not after the lease
            assert row["claimed_by"] is None and row["recovering_since"] is not None
            assert row["due_in"] < timedelta(0)
        else:  # the live owner's: untouched
            assert row["claimed_by"] == alive.key and row["recovering_since"] is None
            assert row["due_in"] > timedelta(seconds=250)
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, data FROM event_outbox WHERE pos > $1 ORDER BY pos", seq
        )
    assert [e["type"] for e in events] == ["message.updated"] * 2
    assert {e["data"]["message"]["id"] for e in events} == taken
    assert all(e["data"]["message"]["recovering_since"] for e in events)
    # A second pass finds nothing left: each claim is taken over once.
    assert (await take_over(ctx.pool, GRACE))["messages"] == 0
    # The sender leaves them alone during the grace, and takes them once it has passed.
    async with ctx.pool.acquire() as conn:
        assert await outbound_queries.claim_due(conn, 50, 300, 0.5, 7009, GRACE) == []
        await conn.execute(
            "UPDATE messages SET recovering_since = now() - make_interval(secs => $1) "
            "WHERE recovering_since IS NOT NULL",
            GRACE,
        )
        again = await outbound_queries.claim_due(conn, 50, 300, 0.5, 7009, GRACE)
    assert {str(r["id"]) for r in again} == taken


async def test_a_reply_taken_over_keeps_its_place_before_later_ones(
    ctx: AppContext, sandbox: Sandbox, test_dsn: str, holders: list[Holder]
) -> None:
    _, account = await connect(ctx, sandbox)
    (first,) = await pending(ctx, account, 1, conversations=1)
    doomed = await hold(test_dsn, holders, 7010)
    assert [r["id"] for r in await claim(ctx, doomed.key)] == [first]
    later = await pending(ctx, account, 5, conversations=5)  # written after it, other chats
    await doomed.die()
    await take_over(ctx.pool, 0)  # no grace: due at once
    # Claimed again by a worker that dies too (a second attempt, but no error): still first.
    again = await hold(test_dsn, holders, 7011)
    async with ctx.pool.acquire() as conn:
        (reclaimed,) = await outbound_queries.claim_due(conn, 1, 300, 0.5, again.key, 0)
    assert reclaimed["id"] == first
    await again.die()
    await take_over(ctx.pool, 0)
    async with ctx.pool.acquire() as conn:
        (head,) = await outbound_queries.claim_due(conn, 1, 300, 0.5, 7012, 0)
    assert head["id"] == first, "the reply taken over goes before the ones written after it"
    assert head["attempts"] == 3 and len(later) == 5


async def test_a_taken_over_reply_says_so_in_the_api_until_claimed_again(
    ctx: AppContext, client, admin: Agent, sandbox: Sandbox, test_dsn: str, holders: list[Holder]
) -> None:
    _, account = await connect(ctx, sandbox)
    (message_id,) = await pending(ctx, account, 1, conversations=1)
    doomed = await hold(test_dsn, holders, 7003)
    (claimed,) = await claim(ctx, doomed.key)
    await doomed.die()
    await take_over(ctx.pool, 0)  # no grace: due at once
    url = f"/api/v1/conversations/{claimed['conversation_id']}/messages"
    (shown,) = (await client.get(url, headers=admin.headers)).json()["items"]
    assert shown["id"] == str(message_id) and shown["status"] == "pending"
    assert shown["recovering_since"] is not None
    again = await claim(ctx, 7004)  # another worker takes it up: no longer recovering
    assert [r["id"] for r in again] == [message_id]
    (shown,) = (await client.get(url, headers=admin.headers)).json()["items"]
    assert shown["recovering_since"] is None


async def test_read_receipts_media_and_profile_lookups_of_a_dead_worker_are_taken_over(
    ctx: AppContext, sandbox: Sandbox, test_dsn: str, holders: list[Holder]
) -> None:
    _, account = await connect(ctx, sandbox)
    conversations = []
    for n in range(2):
        (message_id,) = await pending(ctx, account, 1, conversations=1)
        async with ctx.pool.acquire() as conn:
            conversations.append(
                await conn.fetchval(
                    "SELECT conversation_id FROM messages WHERE id = $1", message_id
                )
            )
            await conn.execute(
                "INSERT INTO read_receipts (conversation_id, integration_account_id, "
                "channel_message_id) VALUES ($1, $2, $3)",
                conversations[-1],
                account.account_id,
                f"wamid.in{n}",
            )
            await conn.execute(
                "INSERT INTO media (conversation_id, origin, status, mime_type, "
                "channel_media_id, next_attempt_at) "
                "VALUES ($1, 'inbound', 'pending', 'image/jpeg', $2, now())",
                conversations[-1],
                f"media-{n}",
            )
            await conn.execute(
                "INSERT INTO contact_identities (channel, external_id, contact_id, "
                "profile_account_id, profile_due_at) "
                "SELECT 'messenger', $2, contact_id, $3, now() FROM conversations WHERE id = $1",
                conversations[-1],
                f"psid-{n}",
                account.account_id,
            )
            # An outgoing webhook's delivery (one endpoint, a window of one row per claim).
            await conn.execute(
                "INSERT INTO outgoing_webhooks (id, url, secret, events, max_concurrency) "
                "VALUES ('00000000-0000-0000-0000-00000000000a', 'https://example.com/', 'x', "
                "'{*}', 1) ON CONFLICT DO NOTHING"
            )
            await conn.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event_type, payload_json, next_retry_at) "
                "VALUES ('00000000-0000-0000-0000-00000000000a', 'note.created', '{}', now())"
            )
            # A running campaign's recipient.
            await conn.execute(
                "INSERT INTO campaigns (id, name, status) VALUES "
                "('00000000-0000-0000-0000-00000000000c', 'Promo', 'running') ON CONFLICT DO NOTHING"
            )
            await conn.execute(
                "INSERT INTO campaign_recipients (campaign_id, phone) "
                "VALUES ('00000000-0000-0000-0000-00000000000c', $1)",
                f"1650555000{n}",
            )
    alive = await hold(test_dsn, holders, 7005)
    doomed = await hold(test_dsn, holders, 7006)
    async with ctx.pool.acquire() as conn:
        for key in (alive.key, doomed.key):
            claimed = await webhook_queries.claim(conn, datetime.now(UTC), key, 300, 1, [], [])
            assert len(claimed) == 1
        assert len(await receipt_queries.claim_read_receipts(conn, 1, 300, alive.key)) == 1
        assert len(await receipt_queries.claim_read_receipts(conn, 1, 300, doomed.key)) == 1
        assert len(await claim_media(conn, 1, 300, alive.key)) == 1
        assert len(await claim_media(conn, 1, 300, doomed.key)) == 1
        assert len(await profile_queries.claim(conn, 1, 300, alive.key)) == 1
        assert len(await profile_queries.claim(conn, 1, 300, doomed.key)) == 1
        for key in (alive.key, doomed.key):
            campaign = UUID("00000000-0000-0000-0000-00000000000c")
            assert len(await campaign_queries.claim(conn, campaign, 1, 300, key)) == 1
    await doomed.die()
    taken = await take_over(ctx.pool, GRACE)
    assert taken == {
        "messages": 0, "read_receipts": 1, "media": 1, "profiles": 1, "webhook_deliveries": 1,
        "campaign_recipients": 1,
    }  # fmt: skip
    async with ctx.pool.acquire() as conn:
        receipts = await conn.fetch(
            "SELECT claimed_by, next_attempt_at - now() AS due_in FROM read_receipts"
        )
        media = await conn.fetch("SELECT claimed_by, next_attempt_at - now() AS due_in FROM media")
        profiles = await conn.fetch(
            "SELECT profile_claimed_by AS claimed_by, profile_due_at - now() AS due_in "
            "FROM contact_identities"
        )
        deliveries = await conn.fetch(
            "SELECT claimed_by, leased_until - now() AS due_in FROM webhook_deliveries"
        )
        recipients = await conn.fetch(
            "SELECT claimed_by, next_attempt_at - now() AS due_in FROM campaign_recipients"
        )
    for rows in (receipts, media, profiles, deliveries, recipients):
        by_owner = {r["claimed_by"]: r["due_in"] for r in rows}
        assert set(by_owner) == {alive.key, None}
        assert by_owner[alive.key] > timedelta(seconds=250)
        assert by_owner[None] <= timedelta(seconds=GRACE)
