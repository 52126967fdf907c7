"""Every report's figures on the hand-built world of tests/reports/world.py, worked out by
hand; the caller's scope; time zones; bad input."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from omnistream.context import AppContext
from tests.conftest import Actors, Agent, fields, problem
from tests.reports.world import World, build

RANGE = {"from": "2026-11-01", "to": "2026-11-03", "tz": "Asia/Jakarta"}


@pytest.fixture
async def world(ctx: AppContext, actors: Actors) -> World:
    return await build(ctx, actors)


async def get(client: httpx.AsyncClient, who: Agent, path: str, **params: Any) -> Any:
    r = await client.get(f"/api/v1/reports/{path}", params={**RANGE, **params}, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def column(report: dict[str, Any], key: str) -> list[Any]:
    return [p[key] for p in report["series"]]


async def test_conversations(client: httpx.AsyncClient, admin: Agent, world: World) -> None:
    r = await get(client, admin, "conversations")
    assert column(r, "period") == ["2026-11-01", "2026-11-02", "2026-11-03"]
    # C1 at 23:30 Jakarta counts for Nov 1; C3 at 00:30 Jakarta (Nov 2 in UTC) for Nov 3.
    assert column(r, "opened") == [1, 1, 1]
    assert column(r, "resolved") == [0, 2, 0]  # C1 (01:30) and C2 (11:00) on Nov 2
    assert column(r, "reopened") == [0, 0, 1]
    assert column(r, "open_at_end") == [1, 0, 2]  # C4 was resolved before the range
    assert r["totals"] == {"opened": 3, "resolved": 2, "reopened": 1, "open_at_end": 2}
    assert r["previous"] == {"opened": 1, "resolved": 1, "reopened": 0, "open_at_end": 0}
    assert r["unassigned_now"] == 1  # C3
    assert r["range"]["previous_from"] == "2026-10-29" and r["range"]["previous_to"] == "2026-10-31"
    utc = await get(client, admin, "conversations", tz="UTC")
    assert column(utc, "opened") == [1, 2, 0]  # C3 opened on Nov 2 in UTC


async def test_responsiveness(client: httpx.AsyncClient, admin: Agent, world: World) -> None:
    r = await get(client, admin, "responsiveness")
    first = r["totals"]["first_response"]
    # C1 600 s, C2's first cycle 1,200 s, its second 300 s.
    assert first["wall"] == {"count": 3, "median": 600.0, "p90": 1080.0, "average": 700.0}
    # Only C2 is under a policy (24/7 hours): business time equals wall-clock time there.
    assert first["business"] == {"count": 2, "median": 750.0, "p90": 1110.0, "average": 750.0}
    resolution = r["totals"]["resolution"]
    assert resolution["wall"] == {"count": 2, "median": 5400.0, "p90": 6840.0, "average": 5400.0}
    assert resolution["business"]["count"] == 1 and resolution["business"]["median"] == 3600.0
    # First response: cycle 1 breached (due 10:10), cycle 2 met (5 min); resolution met.
    assert r["totals"]["sla_compliance"] == {
        "first_response": 50.0, "next_response": None, "resolution": 100.0,
    }  # fmt: skip
    nov2 = r["series"][1]
    assert nov2["first_response"]["wall"]["median"] == 1200.0
    assert nov2["resolution"]["wall"]["median"] == 5400.0
    assert nov2["sla_compliance"]["first_response"] == 0.0
    assert r["series"][2]["sla_compliance"]["first_response"] == 100.0
    assert r["series"][0]["resolution"]["wall"] == {
        "count": 0, "median": None, "p90": None, "average": None,
    }  # fmt: skip
    assert r["previous"]["first_response"]["wall"]["median"] == 600.0  # C4


async def test_responsiveness_filtered_and_scoped(
    client: httpx.AsyncClient, admin: Agent, world: World
) -> None:
    """Each filter and scope picks the right durations out of the packed blocks: channel and
    account per value, division per block, an agent's slice of each block."""

    def totals(r: dict[str, Any]) -> tuple[Any, ...]:
        first, done = r["totals"]["first_response"]["wall"], r["totals"]["resolution"]["wall"]
        return first["count"], first["median"], first["p90"], done["count"], done["median"]

    c2 = (2, 750.0, 1110.0, 1, 3600.0)  # C2: first responses 1,200 and 300 s; resolved 3,600 s
    assert totals(await get(client, admin, "responsiveness", channel="instagram")) == c2
    assert totals(await get(client, admin, "responsiveness", division_id=str(world.d2))) == c2
    assert totals(await get(client, admin, "responsiveness", agent_id=str(world.b.id))) == c2
    c1 = (1, 600.0, 600.0, 1, 7200.0)  # C1: first response 600 s, resolved after 7,200 s
    assert totals(await get(client, admin, "responsiveness", account_id=str(world.account))) == c1
    # The Sales supervisor: C1 and C3 (no response yet); agent A: C1, their own.
    assert totals(await get(client, world.supervisor, "responsiveness")) == c1
    mine = await get(client, world.a, "responsiveness")
    assert totals(mine) == c1
    # C4, before the range: answered by A after 600 s, resolved after 3,600 s.
    assert mine["previous"]["first_response"]["wall"]["median"] == 600.0
    assert mine["previous"]["resolution"]["wall"]["median"] == 3600.0
    nothing = await get(client, admin, "responsiveness", channel="messenger")
    assert totals(nothing) == (0, None, None, 0, None)


async def test_messages(client: httpx.AsyncClient, admin: Agent, world: World) -> None:
    r = await get(client, admin, "messages")
    assert column(r, "inbound") == [1, 1, 2]
    assert column(r, "outbound") == [1, 1, 1]
    assert r["totals"] == {
        "inbound": 4, "outbound": 3, "pending": 0, "sent": 0, "delivered": 1, "read": 1,
        "failed": 1,
    }  # fmt: skip
    assert r["previous"]["inbound"] == 1 and r["previous"]["sent"] == 1
    assert r["top_errors"] == [{"code": "131026", "failed": 1}]
    ig = await get(client, admin, "messages", channel="instagram")
    assert ig["totals"]["inbound"] == 2 and ig["totals"]["failed"] == 1
    acc = await get(client, admin, "messages", account_id=str(world.account))
    assert acc["totals"]["inbound"] == 1 and acc["totals"]["read"] == 1


async def test_heatmap(client: httpx.AsyncClient, admin: Agent, world: World) -> None:
    r = await get(client, admin, "heatmap")
    expected = [[0] * 24 for _ in range(7)]
    for day, hour in ((date(2026, 11, 1), 23), (date(2026, 11, 2), 10), (date(2026, 11, 3), 9),
                      (date(2026, 11, 3), 0)):  # fmt: skip
        expected[day.isoweekday() - 1][hour] += 1
    assert r["cells"] == expected and r["total"] == 4


async def test_agents(client: httpx.AsyncClient, admin: Agent, world: World) -> None:
    r = await get(client, admin, "agents")
    rows = {a["agent_id"]: a for a in r["agents"]}
    a, b = rows[str(world.a.id)], rows[str(world.b.id)]
    assert (a["conversations_handled"], a["replies_sent"]) == (1, 1)
    assert (a["first_response_median"], a["resolution_median"]) == (600.0, 7200.0)
    assert (a["csat_average"], a["csat_responses"]) == (4.0, 1)
    assert (b["conversations_handled"], b["replies_sent"]) == (1, 2)
    assert (b["first_response_median"], b["resolution_median"]) == (750.0, 3600.0)
    assert (b["csat_average"], b["csat_responses"]) == (None, 0)


async def test_each_role_sees_its_own(
    client: httpx.AsyncClient, admin: Agent, world: World
) -> None:
    # The Sales supervisor: Sales (C1) and no division (C3); never C2 of Support.
    sup = await get(client, world.supervisor, "conversations")
    assert column(sup, "opened") == [1, 0, 1] and sup["totals"]["reopened"] == 0
    assert (await get(client, world.supervisor, "messages"))["top_errors"] == []
    listed = {x["agent_id"] for x in (await get(client, world.supervisor, "agents"))["agents"]}
    assert str(world.b.id) not in listed and str(world.a.id) in listed
    body = problem(
        await client.get("/api/v1/reports/messages", params={**RANGE, "division_id": str(world.d2)},
                         headers=world.supervisor.headers), 403)  # fmt: skip
    assert fields(body) == {"division_id"}
    assert body["errors"][0]["type"] == "not_your_division"
    # Agent A: their own conversation and messages only.
    mine = await get(client, world.a, "messages")
    assert mine["totals"]["inbound"] == 1 and mine["totals"]["outbound"] == 1
    assert [x["agent_id"] for x in (await get(client, world.a, "agents"))["agents"]] == [
        str(world.a.id)
    ]
    body = problem(
        await client.get("/api/v1/reports/agents", params={"agent_id": str(world.b.id)},
                         headers=world.a.headers), 403)  # fmt: skip
    assert fields(body) == {"agent_id"}
    assert body["errors"][0]["type"] == "not_your_figures"


async def test_weeks_months_and_csv(client: httpx.AsyncClient, admin: Agent, world: World) -> None:
    weeks = await get(client, admin, "conversations", group="week", **{"from": "2026-10-28"})
    # Wed Oct 28 - Sun Nov 1 (clipped to the range), then Mon Nov 2 - Tue Nov 3.
    assert column(weeks, "period") == ["2026-10-28", "2026-11-02"]
    assert column(weeks, "opened") == [2, 2]
    months = await get(client, admin, "messages", group="month", **{"from": "2026-10-01"})
    assert column(months, "period") == ["2026-10-01", "2026-11-01"]
    assert column(months, "inbound") == [1, 4]
    r = await client.get("/api/v1/reports/messages.csv", params=RANGE, headers=admin.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert (
        'filename="omnistream-messages-2026-11-01-to-2026-11-03.csv"'
        in r.headers["content-disposition"]
    )
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ["period", "inbound", "outbound"]
    assert lines[1].startswith("2026-11-01,1,1,") and len(lines) == 4
    heat = await client.get("/api/v1/reports/heatmap.csv", params=RANGE, headers=admin.headers)
    assert len(heat.content.decode("utf-8-sig").splitlines()) == 8


async def test_daylight_saving_and_empty_ranges(
    client: httpx.AsyncClient, admin: Agent, world: World
) -> None:
    # New York leaves daylight saving on Nov 1 2026 (a 25-hour day): C1 (16:30 UTC) is
    # Nov 1 11:30 there, C2 (Nov 2 03:00 UTC) Nov 1 22:00, C3 (Nov 2 17:30 UTC) Nov 2 12:30.
    ny = await get(client, admin, "conversations", tz="America/New_York")
    assert column(ny, "opened") == [2, 1, 0]
    empty = await get(client, admin, "responsiveness", **{"from": "2025-01-01", "to": "2025-01-31"})
    assert empty["totals"]["first_response"]["wall"]["median"] is None
    assert len(empty["series"]) == 31


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-01-01", "to": "2026-02-05"}, "to"),  # 401 days
        ({"from": "2026-11-03", "to": "2026-11-01"}, "to"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": "../etc/passwd"}, "tz"),
        ({"group": "hour"}, "group"),
        ({"from": "2026-13-01"}, "from"),
        ({"channel": "fax"}, "channel"),
    ],
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, admin: Agent, params: dict[str, str], field: str
) -> None:
    r = await client.get("/api/v1/reports/conversations", params=params, headers=admin.headers)
    assert field in fields(problem(r, 422))


async def test_a_report_during_a_full_rebuild_answers_503(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent, world: World
) -> None:
    """A full rebuild holds the reports' tables (TRUNCATE: ACCESS EXCLUSIVE) until it
    commits; a report waits a moment, then says so instead of hanging."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE report_rollups IN ACCESS EXCLUSIVE MODE")
        r = await client.get("/api/v1/reports/messages", params=RANGE, headers=admin.headers)
        body = problem(r, 503)
        assert r.headers["retry-after"] == "30" and body["retry_after"] == 30
    assert (await get(client, admin, "messages"))["totals"]["inbound"] == 4
