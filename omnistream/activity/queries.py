"""SQL of the activity log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = "id, agent_id, action, target_type, target_id, metadata_json, created_at"
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# A contact as people know it: name, else phone, else email (a channel-only contact: none).
_CONTACT = "COALESCE(NULLIF(k.name, ''), '+' || k.phone, k.email)"
_OF_CONVERSATION = "(conversations c JOIN contacts k ON k.id = c.contact_id)"
# The target as people know it; once it is gone, the name the entry kept in its metadata.
TARGET_NAME = f"""COALESCE(CASE p.target_type
    WHEN 'agent' THEN (SELECT t.name FROM agents t WHERE t.id = p.target_id)
    WHEN 'division' THEN (SELECT t.name FROM divisions t WHERE t.id = p.target_id)
    WHEN 'contact' THEN (SELECT {_CONTACT} FROM contacts k WHERE k.id = p.target_id)
    WHEN 'conversation' THEN (SELECT {_CONTACT} FROM {_OF_CONVERSATION} WHERE c.id = p.target_id)
    WHEN 'message' THEN (SELECT {_CONTACT} FROM messages m JOIN {_OF_CONVERSATION}
                          ON c.id = m.conversation_id WHERE m.id = p.target_id)
    WHEN 'scheduled_message' THEN (SELECT {_CONTACT} FROM scheduled_messages m JOIN
                                    {_OF_CONVERSATION} ON c.id = m.conversation_id
                                    WHERE m.id = p.target_id)
    WHEN 'quick_reply' THEN (SELECT t.title FROM quick_replies t WHERE t.id = p.target_id)
    WHEN 'integration' THEN (SELECT t.name FROM integrations t WHERE t.id = p.target_id)
    WHEN 'template' THEN (SELECT t.name || ' (' || t.language || ')' FROM wa_templates t
                           WHERE t.id = p.target_id)
    WHEN 'webhook' THEN (SELECT t.url FROM outgoing_webhooks t WHERE t.id = p.target_id)
    WHEN 'label' THEN (SELECT t.name FROM labels t WHERE t.id = p.target_id)
  END, p.metadata_json ->> 'name', p.metadata_json ->> 'title', p.metadata_json ->> 'email',
  p.metadata_json ->> 'url')"""


async def insert(
    conn: Conn,
    agent_id: UUID | None,
    action: str,
    target_type: str | None,
    target_id: UUID | None,
    metadata: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO activity_logs (agent_id, action, target_type, target_id, metadata_json) "
        "VALUES ($1, $2, $3, $4, $5)",
        agent_id,
        action,
        target_type,
        target_id,
        metadata,
    )


async def search(
    conn: Conn,
    *,
    agent_id: UUID | None,
    action: str | None,
    target_type: str | None,
    target_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        WITH page AS (
            SELECT {COLUMNS} FROM activity_logs
             WHERE ($1::uuid IS NULL OR agent_id = $1)
               AND ($2::text IS NULL OR action = $2)
               AND ($3::text IS NULL OR target_type = $3)
               AND ($4::uuid IS NULL OR target_id = $4)
               AND ($5::timestamptz IS NULL OR created_at >= $5)
               AND ($6::timestamptz IS NULL OR created_at < $6)
               AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
             ORDER BY created_at DESC, id DESC
             LIMIT $9
        )
        SELECT p.*, a.name AS agent_name, {TARGET_NAME} AS target_name,
               (SELECT COALESCE(jsonb_object_agg(n.id, n.name), '{{}}'::jsonb)
                  FROM (SELECT id::text, name FROM agents WHERE id = ANY(r.ids)
                        UNION ALL
                        SELECT id::text, name FROM divisions WHERE id = ANY(r.ids)) n) AS names
          FROM page p
          LEFT JOIN agents a ON a.id = p.agent_id
          LEFT JOIN LATERAL (
              -- Ids the entry's metadata names (top level, and a transfer's from / to).
              SELECT array_agg(e.v::uuid) AS ids
                FROM jsonb_each_text(p.metadata_json || CASE
                         WHEN jsonb_typeof(p.metadata_json -> 'transfer') = 'object'
                         THEN p.metadata_json -> 'transfer' ELSE '{{}}'::jsonb END) AS e(k, v)
               WHERE e.v ~* '{UUID_PATTERN}'
          ) r ON true
         ORDER BY p.created_at DESC, p.id DESC
        """,
        agent_id,
        action,
        target_type,
        target_id,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
