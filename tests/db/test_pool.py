"""The application pool's sessions: what every pooled connection is set up with."""

from __future__ import annotations

from omnistream.context import AppContext


async def test_pooled_sessions_run_without_jit_and_with_keepalives(ctx: AppContext) -> None:
    # JIT compiled short batch statements for 20-40 ms each on tables never analysed
    # (docs/performance.md); keepalives end a vanished worker's sessions (db/pool.py).
    async with ctx.pool.acquire() as conn:
        jit = await conn.fetchval("SHOW jit")
        idle = await conn.fetchval("SHOW tcp_keepalives_idle")
    assert jit == "off"
    assert idle == "10"
