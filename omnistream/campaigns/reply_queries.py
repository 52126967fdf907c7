"""SQL of what comes back from a campaign's recipients: Meta's receipts of the sends, and
the customers' replies (linked to the send they answer)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

# Forward only: read > delivered > sent > pending; failed is final and replaces only
# pending or sent (Meta reports a send that never arrived as failed after sent).
_RANK = """CASE {} WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                   WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END"""


_APPLY = """
    UPDATE campaign_recipients r
       SET channel_message_id = i.wamid,
           status = CASE WHEN i.status = 'failed' AND r.status IN ('pending', 'sent')
                              OR i.status <> 'failed' AND r.status <> 'failed'
                                 AND {rank_new} > {rank_old}
                         THEN i.status ELSE r.status END,
           sent_at = COALESCE(r.sent_at, i.at),
           delivered_at = CASE WHEN i.status IN ('delivered', 'read')
                               THEN COALESCE(r.delivered_at, i.at) ELSE r.delivered_at END,
           read_at = CASE WHEN i.status = 'read' THEN COALESCE(r.read_at, i.at) ELSE r.read_at END,
           failed_at = CASE WHEN i.status = 'failed' AND r.status IN ('pending', 'sent')
                            THEN i.at ELSE r.failed_at END,
           error_code = CASE WHEN i.status = 'failed' AND r.status IN ('pending', 'sent')
                             THEN i.code ELSE r.error_code END,
           error_message = CASE WHEN i.status = 'failed' AND r.status IN ('pending', 'sent')
                                THEN i.reason ELSE r.error_message END,
           claimed_by = CASE WHEN r.status = 'pending' THEN NULL ELSE r.claimed_by END
      FROM i JOIN locked USING (id)
     WHERE r.id = i.id AND r.id = ANY($1::uuid[])
       AND (r.channel_message_id IS NULL OR r.channel_message_id = i.wamid)
    RETURNING r.id, r.campaign_id, r.phone, r.status, r.error_code, i.status AS receipt,
              i.code AS receipt_code
""".format(rank_new=_RANK.format("i.status"), rank_old=_RANK.format("r.status"))


async def apply_receipts(
    conn: Conn,
    recipient_ids: list[UUID],
    wamids: list[str],
    statuses: list[str],
    ats: list[datetime],
    error_codes: list[str | None],
    error_reasons: list[str | None],
) -> list[asyncpg.Record]:
    """Move recipients forward by receipts of their sends (`c:<id>` in each receipt), one
    receipt per recipient; the rows are locked in id order (as the sender's mark_sent
    locks them). A send the sender never recorded (it died first) gets its wamid here; a
    receipt of a second acceptance (another wamid) is ignored. The rows that applied."""
    return await conn.fetch(
        f"""
        WITH i AS (
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                 $5::text[], $6::text[])
                       AS i(id, wamid, status, at, code, reason)
        ), locked AS (
            SELECT r.id FROM campaign_recipients r WHERE r.id = ANY($1::uuid[])
             ORDER BY r.id FOR UPDATE
        )
        {_APPLY}
        """,
        recipient_ids,
        wamids,
        statuses,
        ats,
        error_codes,
        error_reasons,
    )


async def stored_inbound(conn: Conn, channel_message_ids: list[str]) -> list[asyncpg.Record]:
    """The stored WhatsApp messages of these ids, with their conversation's account and the
    contact's number. Each id is its own index probe (LATERAL ... LIMIT 1): with `= ANY($1)`
    the generic plan that asyncpg's prepared statement settled on while the tables were
    small probed the index by channel alone and filtered every WhatsApp message, on each
    inbound batch, until an ANALYZE (never, with autovacuum off)."""
    return await conn.fetch(
        """
        SELECT m.* FROM unnest($1::text[]) AS t(wamid)
        CROSS JOIN LATERAL (
            SELECT x.channel_message_id, x.conversation_id, x.created_at,
                   v.integration_account_id, k.phone
              FROM messages x
              JOIN conversations v ON v.id = x.conversation_id
              JOIN contacts k ON k.id = v.contact_id
             WHERE x.channel = 'whatsapp' AND x.channel_message_id = t.wamid
               AND x.direction = 'inbound' AND k.phone IS NOT NULL
             LIMIT 1
        ) m
        """,
        channel_message_ids,
    )


async def origins(
    conn: Conn,
    account_ids: list[UUID | None],
    phones: list[str],
    reply_tos: list[str | None],
    ats: list[datetime],
    window_hours: int,
) -> list[asyncpg.Record]:
    """For each (account, phone, quoted wamid, time): the campaign send it answers, if any:
    the one it quotes, else the latest to that number from that account within the window
    not answered yet. Rows carry the item's index `i` (1-based)."""
    return await conn.fetch(
        """
        SELECT s.i, p.id AS recipient_id, p.campaign_id, p.division_id, p.name AS campaign_name
          FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
               WITH ORDINALITY AS s(account_id, phone, reply_to, at, i)
          JOIN LATERAL (
                SELECT r.id, r.campaign_id, c.division_id, c.name
                  FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id
                 WHERE c.integration_account_id = s.account_id AND r.conversation_id IS NULL
                   AND ((s.reply_to IS NOT NULL AND r.channel_message_id = s.reply_to)
                        OR (r.phone = s.phone AND r.sent_at IS NOT NULL
                            AND r.sent_at >= s.at - make_interval(hours => $5)
                            AND r.sent_at <= s.at + interval '5 minutes'))
                 ORDER BY (r.channel_message_id IS NOT DISTINCT FROM s.reply_to) DESC,
                          r.sent_at DESC
                 LIMIT 1) p ON true
        """,
        account_ids,
        phones,
        reply_tos,
        ats,
        window_hours,
    )


async def route_conversations(
    conn: Conn,
    conversation_ids: list[UUID],
    campaign_ids: list[UUID],
    division_ids: list[UUID | None],
) -> list[UUID]:
    """New conversations opened by a campaign reply: its campaign, and its division unless
    they have one; the ids whose division changed."""
    rows = await conn.fetch(
        """
        UPDATE conversations v
           SET campaign_id = i.campaign_id, division_id = COALESCE(v.division_id, i.division_id)
          FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS i(id, campaign_id, division_id)
         WHERE v.id = i.id
        RETURNING v.id
        """,
        conversation_ids,
        campaign_ids,
        division_ids,
    )
    return [r["id"] for r in rows]


async def link(
    conn: Conn, recipient_ids: list[UUID], conversation_ids: list[UUID], ats: list[datetime]
) -> list[asyncpg.Record]:
    """Recipients answered in these conversations (first reply wins); the rows linked, with
    what the campaign message in the timeline needs."""
    return await conn.fetch(
        """
        WITH linked AS (
            UPDATE campaign_recipients r
               SET conversation_id = i.conversation_id, replied_at = i.at
              FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS i(id, conversation_id, at)
             WHERE r.id = i.id AND r.conversation_id IS NULL
            RETURNING r.*
        ), tagged AS (
            UPDATE conversations v SET campaign_id = l.campaign_id
              FROM linked l WHERE v.id = l.conversation_id
               AND v.campaign_id IS DISTINCT FROM l.campaign_id
        )
        SELECT l.id, l.campaign_id, l.phone, l.name, l.variables, l.status, l.sent_at, l.replied_at,
               l.channel_message_id, l.error_code, l.error_message, l.conversation_id,
               c.name AS campaign_name, c.variables AS campaign_variables, c.header,
               c.template_id
          FROM linked l JOIN campaigns c ON c.id = l.campaign_id
        """,
        recipient_ids,
        conversation_ids,
        ats,
    )


async def set_message(conn: Conn, recipient_id: UUID, message_id: UUID) -> None:
    await conn.execute(
        "UPDATE campaign_recipients SET message_id = $2 WHERE id = $1", recipient_id, message_id
    )
