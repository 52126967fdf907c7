"""SQL of the directory."""

from __future__ import annotations

import asyncpg

from omnistream.db.pool import Conn


async def active_agents(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT a.id, a.name, a.role, a.presence,
               ARRAY(SELECT m.division_id FROM agent_divisions m WHERE m.agent_id = a.id)
                 AS division_ids
          FROM agents a WHERE a.is_active ORDER BY a.name, a.id
        """
    )


async def divisions(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, name FROM divisions ORDER BY name, id")
