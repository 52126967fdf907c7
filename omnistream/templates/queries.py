"""SQL of WhatsApp templates (wa_templates) and their syncs (wa_template_syncs)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import orjson

from omnistream.db.pool import Conn
from omnistream.templates.components import TemplateRow

COLUMNS = (
    "t.id, t.integration_id, t.external_id, t.name, t.language, t.category, t.status, "
    "t.status_reason, t.status_updated_at, t.parameter_format, t.header_type, "
    "t.header_media_url, t.body_text, t.footer_text, t.components_json, t.removed_at_meta, "
    "t.synced_at, t.updated_at"
)
# One worker at a time runs the periodic sync tick (the bytes of "omnitmpl").
SYNC_TICK_LOCK_ID = 0x6F6D6E69746D706C


async def get(conn: Conn, template_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM wa_templates t WHERE t.id = $1", template_id)


async def search(
    conn: Conn,
    *,
    integration_id: UUID | None,
    status: str | None,
    category: str | None,
    language: str | None,
    q: str | None,
    include_removed: bool,
    after: tuple[str, str, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    pattern = None
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM wa_templates t
         WHERE ($1::uuid IS NULL OR t.integration_id = $1)
           AND ($2::text IS NULL OR t.status = $2)
           AND ($3::text IS NULL OR t.category = $3)
           AND ($4::text IS NULL OR t.language = $4)
           AND ($5::text IS NULL OR t.name ILIKE $5)
           AND ($6 OR t.removed_at_meta IS NULL)
           AND ($7::text IS NULL OR (t.name, t.language, t.id) > ($7, $8::text, $9::uuid))
         ORDER BY t.name, t.language, t.id
         LIMIT $10
        """,
        integration_id,
        status,
        category,
        language,
        pattern,
        include_removed,
        after[0] if after else None,
        after[1] if after else None,
        after[2] if after else None,
        limit,
    )


async def for_send(
    conn: Conn,
    account_id: UUID,
    template_id: UUID | None,
    name: str | None,
    language: str | None,
) -> asyncpg.Record | None:
    """The template of the integration owning this account, by id or by name + language."""
    return await conn.fetchrow(
        f"""
        SELECT {COLUMNS} FROM wa_templates t
          JOIN integration_accounts a ON a.integration_id = t.integration_id
         WHERE a.id = $1
           AND CASE WHEN $2::uuid IS NOT NULL THEN t.id = $2
                    ELSE t.name = $3 AND t.language = $4 END
        """,
        account_id,
        template_id,
        name,
        language,
    )


# Syncing ----------------------------------------------------------------------------------


async def lock_integration(conn: Conn, integration_id: UUID) -> bool:
    """Serialises syncs of one integration (an admin's and the worker's) until commit, and
    keeps the integration from being deleted meanwhile; False when it is gone already."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('wa_templates:' || $1::uuid::text, 0))",
        integration_id,
    )
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE id = $1 FOR KEY SHARE)", integration_id
    )
    return found


async def of_integration(conn: Conn, integration_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM wa_templates t WHERE t.integration_id = $1 FOR UPDATE",
        integration_id,
    )


async def upsert(
    conn: Conn, integration_id: UUID, rows: list[TemplateRow], status_at: datetime
) -> list[asyncpg.Record]:
    """Insert or update by (integration, name, language); a template listed again is no
    longer removed. Returns the written rows."""
    if not rows:
        return []
    returning = COLUMNS.replace("t.", "w.")
    return await conn.fetch(
        f"""
        INSERT INTO wa_templates AS w (integration_id, external_id, name, language, category,
                                       status, status_reason, status_updated_at,
                                       parameter_format, header_type, header_media_url,
                                       body_text, footer_text, components_json, removed_at_meta,
                                       synced_at, updated_at)
        SELECT $1, x.external_id, x.name, x.language, x.category, x.status, x.status_reason, $13,
               x.parameter_format, x.header_type, x.header_media_url, x.body_text,
               x.footer_text, x.components::jsonb, NULL, now(), now()
          FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                      $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                      $14::text[])
               AS x(external_id, name, language, category, status, status_reason,
                    parameter_format, header_type, header_media_url, body_text, footer_text,
                    components)
        ON CONFLICT (integration_id, name, language) DO UPDATE
           SET external_id = EXCLUDED.external_id, category = EXCLUDED.category,
               status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
               status_updated_at = GREATEST(w.status_updated_at, EXCLUDED.status_updated_at),
               parameter_format = EXCLUDED.parameter_format, header_type = EXCLUDED.header_type,
               header_media_url = EXCLUDED.header_media_url, body_text = EXCLUDED.body_text,
               footer_text = EXCLUDED.footer_text, components_json = EXCLUDED.components_json,
               removed_at_meta = NULL, synced_at = now(), updated_at = now()
        RETURNING {returning}
        """,
        integration_id,
        [r.external_id for r in rows],
        [r.name for r in rows],
        [r.language for r in rows],
        [r.category for r in rows],
        [r.status for r in rows],
        [r.status_reason for r in rows],
        [r.parameter_format for r in rows],
        [r.header_type for r in rows],
        [r.header_media_url for r in rows],
        [r.body_text for r in rows],
        [r.footer_text for r in rows],
        status_at,
        [orjson.dumps(r.components).decode() for r in rows],
    )


async def touch(conn: Conn, integration_id: UUID) -> None:
    """Every template still listed was seen by this sync."""
    await conn.execute(
        "UPDATE wa_templates SET synced_at = now() "
        "WHERE integration_id = $1 AND removed_at_meta IS NULL",
        integration_id,
    )


async def mark_removed(conn: Conn, ids: list[UUID]) -> list[asyncpg.Record]:
    if not ids:
        return []
    return await conn.fetch(
        f"""
        UPDATE wa_templates t SET removed_at_meta = now(), updated_at = now()
         WHERE t.id = ANY($1::uuid[]) AND t.removed_at_meta IS NULL
        RETURNING {COLUMNS}
        """,
        ids,
    )


async def record_sync(
    conn: Conn,
    integration_id: UUID,
    error: str | None,
    counts: tuple[int, int, int] = (0, 0, 0),
) -> datetime | None:
    """The outcome of an attempt (error None: it succeeded); its time, or None when the
    integration no longer exists."""
    value: datetime | None = await conn.fetchval(
        """
        INSERT INTO wa_template_syncs AS s (integration_id, attempted_at, succeeded_at, error,
                                            added, updated, removed, consecutive_failures)
        SELECT i.id, now(), CASE WHEN $2::text IS NULL THEN now() END, $2, $3, $4, $5,
               CASE WHEN $2::text IS NULL THEN 0 ELSE 1 END
          FROM integrations i WHERE i.id = $1
        ON CONFLICT (integration_id) DO UPDATE
           SET attempted_at = EXCLUDED.attempted_at,
               succeeded_at = COALESCE(EXCLUDED.succeeded_at, s.succeeded_at),
               error = EXCLUDED.error, added = EXCLUDED.added, updated = EXCLUDED.updated,
               removed = EXCLUDED.removed,
               consecutive_failures = CASE WHEN EXCLUDED.error IS NULL THEN 0
                                           ELSE s.consecutive_failures + 1 END
        RETURNING attempted_at
        """,
        integration_id,
        error,
        *counts,
    )
    return value


async def try_tick_lock(conn: Conn) -> bool:
    value: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", SYNC_TICK_LOCK_ID)
    return value


async def tick_unlock(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", SYNC_TICK_LOCK_ID)


async def due_integrations(
    conn: Conn, every_seconds: float, retry_seconds: float
) -> list[asyncpg.Record]:
    """Active WhatsApp integrations never synced, last synced `every_seconds` ago or more, or
    whose last attempt failed: retried after retry_seconds * 2^(failures - 1), at most
    every_seconds (a transient fault need not wait the whole interval)."""
    return await conn.fetch(
        """
        SELECT i.id, i.channel, i.name, i.is_active, i.credentials_json
          FROM integrations i LEFT JOIN wa_template_syncs s ON s.integration_id = i.id
         WHERE i.channel = 'whatsapp' AND i.is_active
           AND (s.attempted_at IS NULL
                OR s.attempted_at <= now() - make_interval(secs => CASE
                       WHEN s.consecutive_failures = 0 THEN $1::float8
                       ELSE least($1::float8, $2::float8
                                  * power(2, least(s.consecutive_failures - 1, 30)))
                   END))
         ORDER BY s.attempted_at NULLS FIRST, i.id
        """,
        every_seconds,
        retry_seconds,
    )


# Status webhooks ----------------------------------------------------------------------------


async def integrations_of_waba(conn: Conn, waba_id: str) -> list[UUID]:
    """Active WhatsApp integrations of a WABA (waba_id is a plain credential field)."""
    rows = await conn.fetch(
        "SELECT id FROM integrations WHERE channel = 'whatsapp' AND is_active "
        "AND credentials_json->>'waba_id' = $1",
        waba_id,
    )
    return [r["id"] for r in rows]


async def matching(
    conn: Conn,
    integration_ids: list[UUID],
    external_id: str | None,
    name: str | None,
    language: str | None,
) -> list[asyncpg.Record]:
    """The templates a status webhook names: by Meta's id, else by name + language."""
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM wa_templates t
         WHERE t.integration_id = ANY($1::uuid[])
           AND ((t.external_id = $2) OR ($2::text IS NULL AND t.name = $3 AND t.language = $4))
         ORDER BY t.id
           FOR UPDATE
        """,
        integration_ids,
        external_id,
        name,
        language,
    )


async def set_status(
    conn: Conn,
    template_id: UUID,
    status: str,
    reason: str | None,
    removed: bool,
    at: datetime | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        UPDATE wa_templates t
           SET status = $2, status_reason = $3,
               removed_at_meta = CASE WHEN $4 THEN COALESCE(t.removed_at_meta, now())
                                      ELSE t.removed_at_meta END,
               status_updated_at = COALESCE($5, now()), updated_at = now()
         WHERE t.id = $1
        RETURNING {COLUMNS}
        """,
        template_id,
        status,
        reason,
        removed,
        at,
    )
    assert row is not None  # locked by `matching`
    return row
