"""Rules about deliveries: the log, the test event, redelivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.db.pool import Conn, Tx
from omnistream.events.types import ENVELOPE_VERSION, EventType
from omnistream.kit.errors import Conflict, NotFound
from omnistream.webhooks import delivery_queries as queries
from omnistream.webhooks.queries import wake
from omnistream.webhooks.schemas import AttemptOut, DeliveryDetail, DeliveryOut
from omnistream.webhooks.service import TARGET, require_active

PING_MESSAGE = "A test event from OmniStream: your endpoint is reachable."


def out(row: asyncpg.Record) -> DeliveryOut:
    return DeliveryOut(**{k: row[k] for k in DeliveryOut.model_fields})


async def detail(conn: Conn, webhook_id: UUID, delivery_id: UUID) -> DeliveryDetail:
    row = await queries.get(conn, webhook_id, delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
    attempts = [AttemptOut(**dict(a)) for a in await queries.attempts_of(conn, delivery_id)]
    return DeliveryDetail(
        **out(row).model_dump(), payload=row["payload_json"], attempt_log=attempts
    )


def ping_envelope(webhook: asyncpg.Record, actor: Principal, event_id: UUID) -> dict[str, Any]:
    """The test event: an envelope like every other, seq 0 (it is not in the event stream)."""
    return {
        "id": str(event_id),
        "seq": 0,
        "type": EventType.WEBHOOK_PING.value,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "actor": actor.actor(),
        "data": {"webhook_id": str(webhook["id"]), "url": webhook["url"], "message": PING_MESSAGE},
        "version": ENVELOPE_VERSION,
    }


async def send_test(tx: Tx, actor: Principal, webhook_id: UUID) -> DeliveryOut:
    webhook = await require_active(tx.conn, webhook_id)
    event_id = uuid4()
    payload = orjson.dumps(ping_envelope(webhook, actor, event_id)).decode()
    row = await queries.insert_one(
        tx.conn, webhook_id, event_id, EventType.WEBHOOK_PING.value, payload
    )
    await wake(tx.conn)
    await record(
        tx.conn, actor, "webhook_test_sent", TARGET, webhook_id, event_id=event_id,
        url=webhook["url"],
    )  # fmt: skip
    return out(row)


async def redeliver_one(
    tx: Tx, actor: Principal, webhook_id: UUID, delivery_id: UUID
) -> DeliveryOut:
    webhook = await require_active(tx.conn, webhook_id)
    if await queries.get(tx.conn, webhook_id, delivery_id) is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
    rows = await queries.redeliver(tx.conn, webhook_id, [delivery_id], None)
    if not rows:
        raise Conflict("this delivery is pending already: its next attempt is scheduled")
    await wake(tx.conn)
    await record(
        tx.conn, actor, "webhook_redelivered", TARGET, webhook_id, delivery_ids=[delivery_id],
        url=webhook["url"],
    )  # fmt: skip
    return out(rows[0])


async def redeliver_failed(tx: Tx, actor: Principal, webhook_id: UUID, since: datetime) -> int:
    webhook = await require_active(tx.conn, webhook_id)
    rows = await queries.redeliver(tx.conn, webhook_id, None, since)
    if rows:
        await wake(tx.conn)
    await record(
        tx.conn, actor, "webhook_redelivered", TARGET, webhook_id, since=since,
        count=len(rows), url=webhook["url"],
    )  # fmt: skip
    return len(rows)
