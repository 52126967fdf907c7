"""The work waiting for the worker loops, read at scrape time (GET /metrics, the System page).

Each count stops at BACKLOG_CAP rows (a LIMIT inside the count), so a scrape costs the same
bounded index scan however far behind the workers are; a count equal to the cap means "at
least". Every scan runs on the partial index its loop claims from (only waiting rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # db/pool.py imports the metrics registry, which imports Backlog
    from omnistream.db.pool import Conn

BACKLOG_CAP = 10_000
BACKLOG_NAMES = (
    "inbound", "outbound", "scheduled", "webhook_deliveries", "campaign_recipients",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Backlog:
    """`count` waiting items (at most BACKLOG_CAP) and how long the oldest has waited
    (seconds, on the database's clock; 0 when nothing waits)."""

    count: int
    oldest_age_seconds: float


# One round trip. The oldest age:
# - inbound: the lowest pending id is the earliest arrival (webhook_audit_pending_idx);
# - scheduled: only due ones count; the age is how far past its time the earliest is
#   (scheduled_messages_due_order_idx);
# - outbound, webhook deliveries, campaign recipients: the earliest created among the capped
#   rows (exact below the cap). Campaign recipients wait in running campaigns only, and the
#   age is since the earliest such campaign started; deliveries wait for active endpoints only
#   (the others are not claimed; docs/webhooks.md).
_BACKLOGS = """
WITH
inbound AS (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM webhook_audit WHERE status = 'pending' LIMIT $1) s),
inbound_oldest AS (
    SELECT received_at AS t FROM webhook_audit WHERE status = 'pending' ORDER BY id LIMIT 1),
outbound AS (
    SELECT count(*) AS n, min(created_at) AS t FROM (
        SELECT created_at FROM messages
         WHERE status = 'pending' AND direction = 'outbound' LIMIT $1) s),
scheduled AS (
    SELECT count(*) AS n, min(scheduled_at) AS t FROM (
        SELECT scheduled_at FROM scheduled_messages
         WHERE status = 'pending' AND scheduled_at <= now() LIMIT $1) s),
deliveries AS (
    SELECT count(*) AS n, min(created_at) AS t FROM (
        SELECT d.created_at FROM outgoing_webhooks w
          JOIN webhook_deliveries d ON d.webhook_id = w.id AND d.status = 'pending'
         WHERE w.is_active LIMIT $1) s),
recipients AS (
    SELECT count(*) AS n, min(started_at) AS t FROM (
        SELECT c.started_at FROM campaigns c
          JOIN campaign_recipients r ON r.campaign_id = c.id AND r.status = 'pending'
         WHERE c.status = 'running' LIMIT $1) s)
SELECT name, n, COALESCE(extract(epoch FROM now() - t)::float8, 0) AS age FROM (
    SELECT 'inbound' AS name, (SELECT n FROM inbound) AS n,
           (SELECT t FROM inbound_oldest) AS t
    UNION ALL SELECT 'outbound', n, t FROM outbound
    UNION ALL SELECT 'scheduled', n, t FROM scheduled
    UNION ALL SELECT 'webhook_deliveries', n, t FROM deliveries
    UNION ALL SELECT 'campaign_recipients', n, t FROM recipients
) b
"""


async def backlogs(conn: Conn) -> dict[str, Backlog]:
    """What each queue-draining worker loop has waiting, keyed by BACKLOG_NAMES."""
    rows = await conn.fetch(_BACKLOGS, BACKLOG_CAP)
    return {r["name"]: Backlog(int(r["n"]), max(0.0, float(r["age"]))) for r in rows}
