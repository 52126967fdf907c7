"""SQL of deliveries: the fan-out from the outbox, claims, outcomes, the log, retention."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.webhooks.queries import DELIVERY_COLUMNS

# Fan-out ------------------------------------------------------------------------------------


async def lock_position(conn: Conn, consumer: str) -> int | None:
    """The consumer's position, locked for this transaction; None while another worker's
    fan-out holds it (that worker is doing this tick's work)."""
    value: int | None = await conn.fetchval(
        "SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED", consumer
    )
    if value is None:  # held, or gone (an emptied database): then it starts where the
        # oldest active endpoint starts (it never takes an earlier event), or at the present.
        value = await conn.fetchval(
            """
            INSERT INTO event_consumers (name, position)
            SELECT $1, COALESCE((SELECT min(start_seq) FROM outgoing_webhooks WHERE is_active),
                                (SELECT max(seq) FROM event_outbox), 0)
            ON CONFLICT (name) DO NOTHING RETURNING position
            """,
            consumer,
        )
    return value


async def top_seq(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT COALESCE(max(seq), 0) FROM event_outbox")
    return value


async def active_endpoints(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, events, start_seq, max_concurrency FROM outgoing_webhooks WHERE is_active "
        "ORDER BY id"
    )


async def insert_deliveries(
    conn: Conn,
    webhook_ids: list[UUID],
    event_ids: list[UUID],
    seqs: list[int],
    types: list[str],
    payloads: list[str],
    due: datetime,
) -> int:
    """One delivery per (endpoint, event); a pair that exists already is left alone."""
    result: str = await conn.execute(
        """
        INSERT INTO webhook_deliveries (webhook_id, event_id, event_seq, event_type,
                                        payload_json, next_retry_at)
        SELECT w, e, s, t, p::jsonb, $6
          FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[])
               AS u(w, e, s, t, p)
        ON CONFLICT (webhook_id, event_id) DO NOTHING
        """,
        webhook_ids,
        event_ids,
        seqs,
        types,
        payloads,
        due,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def insert_claimed(
    conn: Conn,
    webhook_ids: list[UUID],
    event_ids: list[UUID],
    seqs: list[int],
    types: list[str],
    payloads: list[str],
    due: datetime,
    worker: int | None,
    lease_seconds: float,
) -> list[asyncpg.Record]:
    """insert_deliveries for the fan-out of a worker whose delivery loop has room: the rows
    are inserted already claimed by `worker` (as `claim` would lease them, saving its update
    and its query), returned in claim's shape."""
    return await conn.fetch(
        """
        WITH ins AS (
            INSERT INTO webhook_deliveries (webhook_id, event_id, event_seq, event_type,
                                            payload_json, next_retry_at, claimed_by,
                                            leased_until)
            SELECT w, e, s, t, p::jsonb, $6, $7, now() + make_interval(secs => $8)
              FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[])
                   AS u(w, e, s, t, p)
            ON CONFLICT (webhook_id, event_id) DO NOTHING
            RETURNING id, webhook_id, event_id, payload_json, attempts
        )
        SELECT ins.id, ins.webhook_id, ins.event_id, ins.payload_json, ins.attempts,
               w.url, w.secret, w.previous_secret, w.previous_expires_at, w.max_concurrency
          FROM ins JOIN outgoing_webhooks w ON w.id = ins.webhook_id
        """,
        webhook_ids,
        event_ids,
        seqs,
        types,
        payloads,
        due,
        worker,
        lease_seconds,
    )


async def lock_consumer(conn: Conn, consumer: str, *, wait: bool = False) -> int | None:
    """An event consumer's position (event_consumers), locked for this transaction; None
    while another worker holds it (or, with `wait`, once it is free). A migration creates
    the row at the present; without it (an emptied database, whose outbox starts empty
    too) the consumer starts from the beginning."""
    value: int | None = await conn.fetchval(
        "SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE"
        + ("" if wait else " SKIP LOCKED"),
        consumer,
    )
    if value is None:
        await conn.execute(
            "INSERT INTO event_consumers (name, position) VALUES ($1, 0) "
            "ON CONFLICT (name) DO NOTHING",
            consumer,
        )
        value = await conn.fetchval(
            "SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE"
            + ("" if wait else " SKIP LOCKED"),
            consumer,
        )
    return value


async def advance(conn: Conn, consumer: str, position: int) -> None:
    await conn.execute(
        "UPDATE event_consumers SET position = $2, updated_at = now() WHERE name = $1",
        consumer,
        position,
    )


# Claims and outcomes ------------------------------------------------------------------------


async def claim(
    conn: Conn,
    now: datetime,
    worker: int | None,
    lease_seconds: float,
    window_per_slot: int,
    busy_ids: list[UUID],
    busy_rooms: list[int],
) -> list[asyncpg.Record]:
    """Due deliveries of active endpoints, oldest due first, at most `room` per endpoint
    (its max_concurrency * window_per_slot, or the room given for endpoints this worker
    already holds work of), so a backlog at one endpoint never fills the claim. Leased to
    `worker` until sent."""
    return await conn.fetch(
        """
        WITH room AS (
            SELECT w.id, w.url, w.secret, w.previous_secret, w.previous_expires_at,
                   w.max_concurrency, COALESCE(b.room, w.max_concurrency * $4) AS room
              FROM outgoing_webhooks w
              LEFT JOIN unnest($5::uuid[], $6::int[]) AS b(id, room) ON b.id = w.id
             WHERE w.is_active
        ), picked AS (
            SELECT room.*, d.id AS delivery_id
              FROM room, LATERAL (
                    SELECT d.id FROM webhook_deliveries d
                     WHERE d.webhook_id = room.id AND d.status = 'pending'
                       AND d.next_retry_at <= $1
                       AND (d.leased_until IS NULL OR d.leased_until <= now())
                     ORDER BY d.next_retry_at
                     LIMIT GREATEST(room.room, 0)
                       FOR UPDATE SKIP LOCKED) d
        )
        UPDATE webhook_deliveries d
           SET claimed_by = $2, leased_until = now() + make_interval(secs => $3)
          FROM picked p
         WHERE d.id = p.delivery_id
        RETURNING d.id, d.webhook_id, d.event_id, d.payload_json, d.attempts,
                  p.url, p.secret, p.previous_secret, p.previous_expires_at, p.max_concurrency
        """,
        now,
        worker,
        lease_seconds,
        window_per_slot,
        busy_ids,
        busy_rooms,
    )


async def release_claims(conn: Conn, worker: int) -> None:
    """A stopping worker's claims, due again at once for the others."""
    await conn.execute(
        "UPDATE webhook_deliveries SET claimed_by = NULL, leased_until = NULL "
        "WHERE claimed_by = $1 AND status = 'pending'",
        worker,
    )


async def record_attempts(
    conn: Conn,
    delivery_ids: list[UUID],
    attempted_at: list[datetime],
    durations: list[int],
    statuses: list[int | None],
    bodies: list[str | None],
    errors: list[str | None],
) -> None:
    """The attempts' log rows (of deliveries that still exist: one may have been deleted
    with its endpoint while its request was in flight)."""
    await conn.execute(
        """
        INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status_code,
                                      response_body, error)
        SELECT u.d, u.t, u.ms, u.s, u.b, u.e
          FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::text[],
                      $6::text[]) WITH ORDINALITY AS u(d, t, ms, s, b, e, ord)
          JOIN webhook_deliveries d ON d.id = u.d
         ORDER BY u.ord
        """,
        delivery_ids,
        attempted_at,
        durations,
        statuses,
        bodies,
        errors,
    )


async def finish_attempts(
    conn: Conn,
    delivery_ids: list[UUID],
    statuses: list[str],
    next_retry: list[datetime | None],
    attempted_at: list[datetime],
    http_statuses: list[int | None],
    errors: list[str | None],
) -> None:
    """Each delivery's state after its attempt; the claim is released."""
    await conn.execute(
        """
        UPDATE webhook_deliveries d
           SET status = u.st, attempts = d.attempts + 1, next_retry_at = u.nx,
               last_attempt_at = u.t, last_status = u.hs, last_error = u.e,
               completed_at = CASE WHEN u.st = 'pending' THEN NULL ELSE now() END,
               claimed_by = NULL, leased_until = NULL, updated_at = now()
          FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                      $5::int[], $6::text[]) AS u(id, st, nx, t, hs, e)
         WHERE d.id = u.id AND d.status = 'pending'
        """,
        delivery_ids,
        statuses,
        next_retry,
        attempted_at,
        http_statuses,
        errors,
    )


async def mark_health(
    conn: Conn, webhook_ids: list[UUID], succeeded: list[bool], failing_since: list[datetime | None]
) -> None:
    """Each endpoint's auto-disable clock after a batch of attempts: restarted when one
    succeeded (at the first failure after the last success, or NULL), else kept, or started
    at the batch's first failure."""
    await conn.execute(
        """
        WITH u AS (
            SELECT * FROM unnest($1::uuid[], $2::boolean[], $3::timestamptz[]) AS u(id, ok, f)
        )
        UPDATE outgoing_webhooks w
           SET failing_since = CASE WHEN u.ok THEN u.f ELSE COALESCE(w.failing_since, u.f) END
          FROM u
         WHERE w.id = u.id
           AND w.failing_since IS DISTINCT FROM
               (CASE WHEN u.ok THEN u.f ELSE COALESCE(w.failing_since, u.f) END)
        """,
        webhook_ids,
        succeeded,
        failing_since,
    )


async def disable_failing(conn: Conn, now: datetime, days: float) -> list[asyncpg.Record]:
    """Active endpoints whose every attempt has failed for `days`: disabled."""
    return await conn.fetch(
        """
        UPDATE outgoing_webhooks
           SET is_active = false, disabled_reason = 'failing', disabled_at = $1,
               updated_at = now()
         WHERE is_active AND failing_since <= $1::timestamptz - make_interval(secs => $2 * 86400)
        RETURNING id, url, failing_since
        """,
        now,
        days,
    )


# The log ------------------------------------------------------------------------------------


async def search(
    conn: Conn,
    webhook_id: UUID,
    *,
    status: str | None,
    event_type: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """An endpoint's deliveries, newest first."""
    return await conn.fetch(
        f"""
        SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
         WHERE webhook_id = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR event_type = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::timestamptz IS NULL OR created_at < $5)
           AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7::uuid))
         ORDER BY created_at DESC, id DESC
         LIMIT $8
        """,
        webhook_id,
        status,
        event_type,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def get(conn: Conn, webhook_id: UUID, delivery_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {DELIVERY_COLUMNS}, payload_json FROM webhook_deliveries "
        "WHERE id = $1 AND webhook_id = $2",
        delivery_id,
        webhook_id,
    )


async def attempts_of(conn: Conn, delivery_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, attempted_at, duration_ms, status_code, response_body, error "
        "FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
        delivery_id,
    )


async def insert_one(
    conn: Conn, webhook_id: UUID, event_id: UUID, event_type: str, payload: str
) -> asyncpg.Record:
    """A delivery of its own (the test event), due now."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload_json,
                                        next_retry_at)
        VALUES ($1, $2, $3, $4::text::jsonb, now()) RETURNING {DELIVERY_COLUMNS}
        """,
        webhook_id,
        event_id,
        event_type,
        payload,
    )
    assert row is not None
    return row


async def redeliver(
    conn: Conn, webhook_id: UUID, delivery_ids: list[UUID] | None, failed_since: datetime | None
) -> list[asyncpg.Record]:
    """Finished deliveries due again now with a fresh schedule: the given ones, or every
    failed one created since `failed_since`. Pending ones are left as they are."""
    return await conn.fetch(
        f"""
        UPDATE webhook_deliveries
           SET status = 'pending', attempts = 0, next_retry_at = now(), completed_at = NULL,
               claimed_by = NULL, leased_until = NULL, updated_at = now()
         WHERE webhook_id = $1 AND status <> 'pending'
           AND (($2::uuid[] IS NOT NULL AND id = ANY($2::uuid[]))
                OR ($2::uuid[] IS NULL AND status = 'failed' AND created_at >= $3))
        RETURNING {DELIVERY_COLUMNS}
        """,
        webhook_id,
        delivery_ids,
        failed_since,
    )


VACUUM_LOCK_ID = 0x6F6D6E6977687663  # one worker at a time vacuums the delivery queue


async def vacuum_queue(conn: Conn) -> bool:
    """VACUUM webhook_deliveries unless another worker is doing it (outside a transaction:
    VACUUM cannot run in one); whether it ran."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", VACUUM_LOCK_ID):
        return False
    try:
        await conn.execute("VACUUM webhook_deliveries")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", VACUUM_LOCK_ID)
    return True


# Retention ----------------------------------------------------------------------------------


async def purge(conn: Conn, days: int) -> tuple[int, int]:
    """Attempts, and finished deliveries, older than `days`; (attempts, deliveries)."""
    attempts: str = await conn.execute(
        "DELETE FROM webhook_attempts WHERE created_at < now() - make_interval(days => $1)", days
    )
    deliveries: str = await conn.execute(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' "
        "AND completed_at < now() - make_interval(days => $1)",
        days,
    )
    return int(attempts.rsplit(maxsplit=1)[-1]), int(deliveries.rsplit(maxsplit=1)[-1])
