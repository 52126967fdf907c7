"""SLA alerts over the real WebSocket: a warning, then the breach, reach the assignee, the
division's supervisor and an admin live, never a colleague of the division or another
division's supervisor (who still see the conversation's own updates where they may), and
the same on a resume after them."""

from __future__ import annotations

from typing import Any

from omnistream.sla.consumer import consume
from omnistream.sla.engine import Policies
from omnistream.sla.worker import check_due
from tests import factories
from tests.conftest import Actors
from tests.events.test_websocket import (  # noqa: F401 (fixtures)
    Live,
    all_published,
    connect,
    dispatcher,
    server,
)
from tests.sla.test_sla_engine import add_policy, customer_writes, shift

SLA_TYPES = ("sla.warning", "sla.breached")


async def settle(ctx: Any) -> None:
    """The dispatcher (running here) publishes; the consumer takes everything."""
    await all_published(ctx)
    policies = Policies()
    while (await consume(ctx.pool, policies)) not in (0, None):
        pass


async def drain(live: Live, seconds: float = 1.5) -> list[dict[str, Any]]:
    """Every event that arrives until nothing has for `seconds` (a resume's closing
    `resumed` frame is no event)."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            frame = await live.frame(seconds)
        except TimeoutError:
            return got
        if frame["type"] == "event":
            got.append(frame["event"])


async def test_alerts_reach_exactly_the_right_people_live_and_on_resume(
    server: str,  # noqa: F811
    ctx,
    actors: Actors,
) -> None:
    sales, support = await factories.division(ctx), await factories.division(ctx)
    await add_policy(ctx, division=sales, first=10, nxt=None, resolution=600)
    assignee = await actors.make("agent", divisions=[sales])
    colleague = await actors.make("agent", divisions=[sales])
    boss = await actors.make("supervisor", divisions=[sales])
    other_boss = await actors.make("supervisor", divisions=[support])
    admin = await actors.make("admin")
    message = await customer_writes(ctx, "6281340000001")
    conversation_id = message["conversation_id"]
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET division_id = $2, assigned_agent_id = $3 WHERE id = $1",
            conversation_id,
            sales,
            assignee.id,
        )
    await settle(ctx)
    people = {
        "assignee": assignee,
        "colleague": colleague,
        "boss": boss,
        "other boss": other_boss,
        "admin": admin,
    }
    sockets = {name: await connect(server, who.token) for name, who in people.items()}
    try:
        before = sockets["admin"].ready["seq"]
        policies = Policies()
        await shift(ctx, conversation_id, 9)  # 90 % of 10 minutes
        assert (await check_due(ctx.pool, policies))[1] == 1
        await shift(ctx, conversation_id, 2)
        assert (await check_due(ctx.pool, policies))[1] == 1
        expected = {"assignee": True, "boss": True, "admin": True, "colleague": False,
                    "other boss": False}  # fmt: skip
        for name, live in sockets.items():
            got = [e for e in await drain(live) if e["type"] in SLA_TYPES]
            if expected[name]:
                assert [e["type"] for e in got] == list(SLA_TYPES), name
                assert {e["data"]["conversation"]["id"] for e in got} == {str(conversation_id)}
                assert got[1]["data"]["target"] == "first_response"
            else:
                assert got == [], name
        # A socket that was away resumes after `before`: the same alerts, the same rule.
        for name, who in people.items():
            resumed = await connect(server, who.token, after_seq=before)
            try:
                got = [e["type"] for e in await drain(resumed) if e["type"] in SLA_TYPES]
                assert got == (list(SLA_TYPES) if expected[name] else []), name
            finally:
                await resumed.close()
    finally:
        for live in sockets.values():
            await live.close()
