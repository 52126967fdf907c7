"""Helpers of the contacts screen tests: attribute definitions and what was written."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Agent

CONTACTS = "/api/v1/contacts"
ATTRIBUTES = "/api/v1/contact-attributes"


async def define(client: httpx.AsyncClient, admin: Agent, **body: Any) -> dict[str, Any]:
    r = await client.post(ATTRIBUTES, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def standard_attributes(client: httpx.AsyncClient, admin: Agent) -> None:
    """tier (list gold/silver), age (number), birthday (date), company (text)."""
    await define(client, admin, key="tier", label="Customer tier", type="list",
                 options=["gold", "silver"])  # fmt: skip
    await define(client, admin, key="age", label="Age", type="number")
    await define(client, admin, key="birthday", label="Birthday", type="date")
    await define(client, admin, key="company", label="Company", type="text")


async def rows(ctx: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def count(ctx: Any, sql: str, *args: Any) -> int:
    async with ctx.pool.acquire() as conn:
        value: int = await conn.fetchval(sql, *args)
    return value
