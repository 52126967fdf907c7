"""The migration runner: fresh database to head, no-op rerun, concurrency, tampering."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from omnistream.db.migrate import MigrationError, at_head, load_migrations, migrate
from omnistream.db.pool import init_connection

SEED_TABLES = {
    "agents",
    "divisions",
    "agent_divisions",
    "contacts",
    "conversations",
    "conversation_notes",
    "conversation_transfers",
    "quick_replies",
    "agent_favorite_replies",
    "wa_templates",
    "campaigns",
    "campaign_recipients",
    "scheduled_messages",
    "integrations",
    "integration_accounts",
    "sla_policies",
    "sla_breach_logs",
    "csat_surveys",
    "outgoing_webhooks",
    "webhook_deliveries",
    "activity_logs",
}
EXTRA_TABLES = {"messages", "webhook_audit", "event_outbox", "auth_sessions", "refresh_tokens"}


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn


async def test_fresh_database_reaches_head_and_rerun_is_noop(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn)
    try:
        assert not await at_head(conn)
        applied = await migrate(conn)
        assert applied == [f"{m.version:04d}_{m.name}" for m in load_migrations()]
        assert await at_head(conn)
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert SEED_TABLES | EXTRA_TABLES <= tables
        assert await migrate(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(
            load_migrations()
        )
    finally:
        await conn.close()


async def test_concurrent_migrators_do_not_collide(fresh_dsn: str) -> None:
    conns = [await connect(fresh_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(load_migrations())]
        assert await at_head(conns[0])
    finally:
        for c in conns:
            await c.close()


async def test_tampered_checksum_is_refused(fresh_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE t2 (id int);")
    conn = await connect(fresh_dsn)
    try:
        assert await migrate(conn, load_migrations(tmp_path)) == ["0001_first", "0002_second"]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id bigint);")
        with pytest.raises(
            MigrationError, match=r"0001_first\.sql was edited after it was applied"
        ):
            await migrate(conn, load_migrations(tmp_path))
        # Nothing was applied by the refused run, and the lock was released.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype='advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            == 0
        )
    finally:
        await conn.close()


async def test_unknown_applied_version_and_failed_migration(fresh_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE t2 (id int); SELECT no_such_function();")
    conn = await connect(fresh_dsn)
    try:
        with pytest.raises(MigrationError, match=r"0002_bad\.sql failed: UndefinedFunctionError"):
            await migrate(conn, load_migrations(tmp_path))
        # The failing migration rolled back whole; the first one stayed.
        assert await conn.fetchval("SELECT to_regclass('t2')") is None
        assert await conn.fetchval("SELECT array_agg(version) FROM schema_migrations") == [1]
        (tmp_path / "0002_bad.sql").unlink()
        (tmp_path / "0003_third.sql").write_text("CREATE TABLE t3 (id int);")
        await conn.execute("INSERT INTO schema_migrations VALUES (2, 'other_line', 'x')")
        with pytest.raises(MigrationError, match="another line of versions"):
            await migrate(conn, load_migrations(tmp_path))
        assert await conn.fetchval("SELECT to_regclass('t3')") is None
    finally:
        await conn.close()


async def test_a_newer_database_is_run_on_but_never_migrated(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """A rolling upgrade: old processes keep running on a database a newer version migrated
    (docs/operations.md#upgrading); they apply nothing, and /readyz's check holds."""
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
    conn = await connect(fresh_dsn)
    try:
        assert await migrate(conn, load_migrations(tmp_path)) == ["0001_first"]
        await conn.execute("INSERT INTO schema_migrations VALUES (9, 'future', 'x')")
        assert await migrate(conn, load_migrations(tmp_path)) == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 2
        # Code that still has a migration to apply must not apply it after a newer one.
        (tmp_path / "0002_second.sql").write_text("CREATE TABLE t2 (id int);")
        with pytest.raises(MigrationError, match=r"newer version .* lacks 0002_second"):
            await migrate(conn, load_migrations(tmp_path))
        assert await conn.fetchval("SELECT to_regclass('t2')") is None
    finally:
        await conn.close()


async def test_readiness_holds_on_a_newer_database(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn)
    try:
        await migrate(conn)
        await conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'x')")
        assert await at_head(conn)
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        assert not await at_head(conn)
    finally:
        await conn.close()


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_nope.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        load_migrations(tmp_path)


async def test_schema_constraints(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn)
    try:
        await migrate(conn)
        insert = "INSERT INTO agents (email, password_hash, name, role) VALUES ($1, 'h', 'n', $2)"
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(insert, "a@example.com", "boss")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(insert, "Upper@Example.com", "agent")
        await conn.execute(insert, "a@example.com", "agent")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, "a@example.com", "agent")
        contact = await conn.fetchval(
            "INSERT INTO contacts (phone) VALUES ('6281234567') RETURNING id"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO contacts (phone) VALUES ('6281234567')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO conversations (contact_id, channel) VALUES ($1, 'fax')", contact
            )
        with pytest.raises(asyncpg.CheckViolationError):  # resolved needs resolved_at
            await conn.execute(
                "INSERT INTO conversations (contact_id, channel, status) VALUES ($1, 'whatsapp', 'resolved')",
                contact,
            )
        conv = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel) VALUES ($1, 'whatsapp') RETURNING id",
            contact,
        )
        msg = "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type, status) VALUES ($1, 'whatsapp', 'wamid.1', 'inbound', 'text', 'received')"
        await conn.execute(msg, conv)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(msg, conv)
        policy = "INSERT INTO sla_policies (name, channel, first_response_minutes, resolution_minutes) VALUES ('p', $1, 5, 60) RETURNING priority"
        assert await conn.fetchval(policy, "whatsapp") == 2
        assert await conn.fetchval(policy, None) == 1
    finally:
        await conn.close()


# Columns holding one value of an enumeration, wherever they appear.
ENUM_COLUMNS = {"channel", "role", "status", "direction", "breach_type", "delivery_status"}


async def test_every_enumerated_text_column_has_a_check(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn)
    try:
        await migrate(conn)
        columns = await conn.fetch(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
              JOIN pg_tables t ON t.tablename = c.table_name AND t.schemaname = 'public'
             WHERE c.table_schema = 'public' AND c.data_type = 'text'
               AND c.column_name = ANY($1::text[])
            """,
            sorted(ENUM_COLUMNS),
        )
        checked = {
            (r["table"], r["column"])
            for r in await conn.fetch(
                """
                SELECT k.conrelid::regclass::text AS table, a.attname AS column
                  FROM pg_constraint k
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
                 WHERE k.contype = 'c'
                """
            )
        }
        found = {(r["table_name"], r["column_name"]) for r in columns}
        assert ("integration_accounts", "channel") in found and len(found) >= 8
        assert sorted(found - checked) == []
    finally:
        await conn.close()
