"""Migration 0022 on the embedded PostgreSQL (the pgserver wheel ships neither unaccent nor
pg_trgm): it applies, and search still works, accents then having to match."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from omnistream.conversations.visibility import Scope
from omnistream.db.embedded import EmbeddedPostgres
from omnistream.db.migrate import migrate
from omnistream.db.pool import init_connection
from omnistream.kit.enums import Role
from omnistream.search import queries, service


@pytest.fixture
def embedded() -> Iterator[str]:
    # Not under pytest's tmp_path: run as root, the server's own account must be able to
    # enter every parent folder (docs: README, "Run as root").
    folder = Path(tempfile.mkdtemp(prefix="omnistream-search-embedded-"))
    os.chmod(folder, 0o755)
    server = EmbeddedPostgres(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_search_degrades_gracefully_without_the_extensions(embedded: str) -> None:
    conn = await asyncpg.connect(embedded)
    await init_connection(conn)
    try:
        await migrate(conn)
        extensions = {r[0] for r in await conn.fetch("SELECT extname FROM pg_extension")}
        assert not extensions & {"unaccent", "pg_trgm"}
        indexes = {r[0] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
        assert {"messages_search_idx", "conversation_notes_search_idx"} <= indexes
        assert "contacts_search_idx" not in indexes  # no trigram index without pg_trgm
        contact = await conn.fetchval(
            "INSERT INTO contacts (name, phone) VALUES ('Lucía Santoso', '6281234563456') "
            "RETURNING id"
        )
        conversation = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel) VALUES ($1, 'whatsapp') RETURNING id",
            contact,
        )
        await conn.execute(
            "INSERT INTO messages (conversation_id, channel, direction, type, content, status) "
            "VALUES ($1, 'whatsapp', 'inbound', 'text', $2, 'received')",
            conversation,
            {"text": "Apakah barang ini ready?"},
        )
        found = {}
        async with conn.transaction():
            await queries.custom_plans(conn)
            for q in ("barang", "Lucía", "lucia", "0812", "3456"):
                query = await service.prepare(conn, q, "ID")
                assert query is not None
                scope = Scope(Role.ADMIN, uuid4(), frozenset())
                items, _ = await service.search(
                    conn, scope, query, queries.SearchFilter(), None, 10
                )
                found[q] = [(i.hit.kind, i.hit.snippet) for i in items]
        assert found["barang"] == [("message", "Apakah <mark>barang</mark> ini ready?")]
        assert found["Lucía"] == [("contact", "<mark>Lucía</mark> Santoso · 6281234563456")]
        assert found["lucia"] == []  # no unaccent: the accent must match
        assert found["0812"] == [("contact", "Lucía Santoso · <mark>62812</mark>34563456")]
        assert found["3456"] == [("contact", "Lucía Santoso · 62812<mark>34563456</mark>")]
    finally:
        await conn.close()
