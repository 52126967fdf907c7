"""SQL of outgoing webhooks: endpoints, deliveries and their attempts, the fan-out's
position, claims and outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

WAKE_CHANNEL = "omnistream_webhooks"  # new deliveries are due: wakes the delivery loops
CONSUMER = "webhooks"  # this consumer's row in event_consumers
ENDPOINT_COLUMNS = (
    "id, url, description, events, is_active, max_concurrency, created_at, updated_at, "
    "previous_expires_at, failing_since, disabled_reason, disabled_at, created_by"
)
DELIVERY_COLUMNS = (
    "id, webhook_id, event_id, event_seq, event_type, status, attempts, next_retry_at, "
    "last_error, last_status, last_attempt_at, completed_at, created_at"
)


# Endpoints ----------------------------------------------------------------------------------


async def insert(
    conn: Conn,
    webhook_id: UUID,
    *,
    url: str,
    description: str,
    events: list[str],
    is_active: bool,
    max_concurrency: int,
    secret: str,
    created_by: UUID | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        INSERT INTO outgoing_webhooks (id, url, description, events, is_active, max_concurrency,
                                       secret, created_by, start_seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                (SELECT COALESCE(max(seq), 0) FROM event_outbox))
        RETURNING {ENDPOINT_COLUMNS}
        """,
        webhook_id,
        url,
        description,
        events,
        is_active,
        max_concurrency,
        secret,
        created_by,
    )
    assert row is not None
    return row


async def get(conn: Conn, webhook_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ENDPOINT_COLUMNS}, secret, previous_secret FROM outgoing_webhooks "
        f"WHERE id = $1{' FOR UPDATE' if lock else ''}",
        webhook_id,
    )


async def search(
    conn: Conn,
    *,
    is_active: bool | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 1,
    webhook_id: UUID | None = None,
) -> list[asyncpg.Record]:
    """Newest first, with each endpoint's pending deliveries and recent failures."""
    return await conn.fetch(
        f"""
        SELECT {ENDPOINT_COLUMNS},
               (SELECT count(*) FROM webhook_deliveries d
                 WHERE d.webhook_id = w.id AND d.status = 'pending')::int AS pending,
               (SELECT count(*) FROM webhook_deliveries d
                 WHERE d.webhook_id = w.id AND d.status = 'failed'
                   AND d.created_at > now() - interval '24 hours')::int AS failed_24h
          FROM outgoing_webhooks w
         WHERE ($1::boolean IS NULL OR is_active = $1)
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
           AND ($5::uuid IS NULL OR id = $5)
         ORDER BY created_at DESC, id DESC
         LIMIT $4
        """,
        is_active,
        after[0] if after else None,
        after[1] if after else None,
        limit,
        webhook_id,
    )


async def update(conn: Conn, webhook_id: UUID, changes: dict[str, Any]) -> asyncpg.Record:
    """Set the given columns (names come from the schema, never from the client)."""
    names = list(changes)
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    row = await conn.fetchrow(
        f"UPDATE outgoing_webhooks SET {sets}, updated_at = now() WHERE id = $1 "
        f"RETURNING {ENDPOINT_COLUMNS}",
        webhook_id,
        *changes.values(),
    )
    assert row is not None
    return row


async def enable(conn: Conn, webhook_id: UUID) -> None:
    """Active again: from the events published from now on; the failure clock restarts."""
    await conn.execute(
        """
        UPDATE outgoing_webhooks
           SET is_active = true, disabled_reason = NULL, disabled_at = NULL,
               failing_since = NULL, updated_at = now(),
               start_seq = (SELECT COALESCE(max(seq), 0) FROM event_outbox)
         WHERE id = $1
        """,
        webhook_id,
    )


async def rotate(
    conn: Conn, webhook_id: UUID, secret: str, previous: str | None, expires_at: datetime | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        UPDATE outgoing_webhooks
           SET secret = $2, previous_secret = $3, previous_expires_at = $4, updated_at = now()
         WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}
        """,
        webhook_id,
        secret,
        previous,
        expires_at,
    )
    assert row is not None
    return row


async def delete(conn: Conn, webhook_id: UUID) -> bool:
    result: str = await conn.execute("DELETE FROM outgoing_webhooks WHERE id = $1", webhook_id)
    return result.endswith(" 1")


async def fail_pending(conn: Conn, webhook_ids: list[UUID], reason: str) -> int:
    """Pending deliveries of endpoints just disabled: failed, with the reason."""
    result: str = await conn.execute(
        """
        UPDATE webhook_deliveries
           SET status = 'failed', last_error = $2, next_retry_at = NULL, claimed_by = NULL,
               leased_until = NULL, completed_at = now(), updated_at = now()
         WHERE webhook_id = ANY($1::uuid[]) AND status = 'pending'
        """,
        webhook_ids,
        reason,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def wake(conn: Conn) -> None:
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)
