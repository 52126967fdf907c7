"""GET /api/v1/csat (filters, keyset pages, who reads what), the settings (defaults,
validation naming fields, admins only) and a conversation's surveys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from omnistream.context import AppContext
from tests import factories
from tests.conftest import fields, problem


async def _survey(
    ctx: AppContext,
    conversation_id: UUID,
    contact_id: UUID,
    *,
    score: int | None,
    at: datetime,
    channel: str = "whatsapp",
    division_id: UUID | None = None,
    agent_id: UUID | None = None,
) -> UUID:
    async with ctx.pool.acquire() as conn:
        survey_id: UUID = await conn.fetchval(
            "INSERT INTO csat_surveys (id, conversation_id, contact_id, channel, division_id, "
            "agent_id, status, score, responded_at, resolve_event_id, survey_sent_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            uuid4(),
            conversation_id,
            contact_id,
            channel,
            division_id,
            agent_id,
            "answered" if score else "sent",
            score,
            at if score else None,
            uuid4(),
            at,
        )
    return survey_id


async def _setup(ctx: AppContext, actors: Any) -> dict[str, Any]:
    sales, support = await factories.division(ctx, "Sales"), await factories.division(ctx, "Ops")
    agent = await actors.make("agent", divisions=[sales])
    contact = await factories.contact(ctx)
    conversation = await factories.conversation(ctx, contact_id=contact)
    t0 = datetime(2025, 12, 1, 9, tzinfo=UTC)
    ids = [
        await _survey(ctx, conversation, contact, score=5, at=t0, division_id=sales,
                      agent_id=agent.id),
        await _survey(ctx, conversation, contact, score=2, at=t0 + timedelta(hours=1),
                      division_id=support, channel="messenger"),
        await _survey(ctx, conversation, contact, score=4, at=t0 + timedelta(hours=2)),
        await _survey(ctx, conversation, contact, score=5, at=t0 + timedelta(hours=3),
                      division_id=sales, agent_id=agent.id),
        await _survey(ctx, conversation, contact, score=None, at=t0 + timedelta(hours=4)),
    ]  # fmt: skip
    return {"sales": sales, "support": support, "agent": agent, "ids": ids, "t0": t0,
            "conversation": conversation}  # fmt: skip


async def test_list_filters_and_pages(ctx, client, admin, actors) -> None:
    s = await _setup(ctx, actors)
    ids = s["ids"]
    r = await client.get("/api/v1/csat", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [str(ids[n]) for n in (3, 2, 1, 0)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/csat", params=params, headers=admin.headers)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(ids[n]) for n in (3, 2, 1, 0)]

    async def listed(**params: Any) -> list[str]:
        r = await client.get("/api/v1/csat", params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await listed(score=5) == [str(ids[3]), str(ids[0])]
    assert await listed(agent_id=str(s["agent"].id)) == [str(ids[3]), str(ids[0])]
    assert await listed(division_id=str(s["support"])) == [str(ids[1])]
    assert await listed(channel="messenger") == [str(ids[1])]
    t0 = s["t0"]
    window = {
        "from": (t0 + timedelta(hours=1)).isoformat(),
        "to": (t0 + timedelta(hours=3)).isoformat(),
    }
    assert await listed(**window) == [str(ids[2]), str(ids[1])]
    assert fields(problem(await client.get("/api/v1/csat?score=6", headers=admin.headers), 422))
    bad = await client.get("/api/v1/csat?cursor=nonsense", headers=admin.headers)
    assert fields(problem(bad, 400)) == {"cursor"}
    naive = await client.get("/api/v1/csat?from=2025-12-01T00:00:00", headers=admin.headers)
    assert fields(problem(naive, 422)) == {"from"}


async def test_summary_counts_every_match_not_a_page(ctx, client, admin, actors) -> None:
    s = await _setup(ctx, actors)

    async def summed(who: Any = admin, **params: Any) -> dict[str, Any]:
        r = await client.get("/api/v1/csat/summary", params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    # Scores 5, 2, 4, 5 answered (the fifth survey is unanswered): all of them, whatever a
    # list page would hold.
    assert await summed() == {
        "responses": 4,
        "average": 4.0,
        "satisfied_percent": 75.0,
        "scores": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 2},
    }
    assert (await summed(channel="messenger"))["scores"] == {"1": 0, "2": 1, "3": 0, "4": 0,
                                                             "5": 0}  # fmt: skip
    by_agent = await summed(agent_id=str(s["agent"].id))
    assert (by_agent["responses"], by_agent["average"]) == (2, 5.0)
    t0 = s["t0"]
    window = await summed(
        **{
            "from": (t0 + timedelta(hours=1)).isoformat(),
            "to": (t0 + timedelta(hours=2)).isoformat(),
        }
    )
    assert (window["responses"], window["average"], window["satisfied_percent"]) == (1, 2.0, 0.0)
    none = await summed(score=3)
    assert (none["responses"], none["average"], none["satisfied_percent"]) == (0, None, None)
    # A supervisor's: their division's and those without one (5, 4, 5).
    supervisor = await actors.make("supervisor", divisions=[s["sales"]])
    mine = await summed(supervisor)
    assert (mine["responses"], mine["average"]) == (3, 4.67)
    problem(await client.get("/api/v1/csat/summary", headers=s["agent"].headers), 403)
    problem(await client.get("/api/v1/csat/summary"), 401)
    naive = await client.get("/api/v1/csat/summary?to=2025-12-01T00:00:00", headers=admin.headers)
    assert fields(problem(naive, 422)) == {"to"}


async def test_who_reads_responses(ctx, client, admin, actors) -> None:
    s = await _setup(ctx, actors)
    supervisor = await actors.make("supervisor", divisions=[s["sales"]])
    r = await client.get("/api/v1/csat", headers=supervisor.headers)
    assert r.status_code == 200
    # Their division's and those without one; not Ops'.
    assert [i["id"] for i in r.json()["items"]] == [str(s["ids"][n]) for n in (3, 2, 0)]
    problem(await client.get("/api/v1/csat", headers=s["agent"].headers), 403)
    problem(await client.get("/api/v1/csat"), 401)
    # A conversation's surveys: whoever sees the conversation (all of them, newest first).
    path = f"/api/v1/conversations/{s['conversation']}/csat"
    r = await client.get(path, headers=admin.headers)
    assert r.status_code == 200 and len(r.json()) == 5
    assert r.json()[0]["status"] == "sent"
    problem(await client.get(f"/api/v1/conversations/{uuid4()}/csat", headers=admin.headers), 404)


async def test_settings_defaults_validation_and_permission(ctx, client, admin, actors) -> None:
    r = await client.get("/api/v1/csat/settings", headers=admin.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["channels"] == [] and body["interval_days"] == 7 and body["language"] == "auto"
    assert body["texts"]["id"]["options"][4] == "5 - Sangat baik"
    assert body["texts"]["en"]["question"].startswith("Thanks for contacting us!")

    body["channels"] = ["whatsapp", "instagram"]
    body["interval_days"] = 14
    body["texts"]["en"]["question"] = "How did we do?"
    r = await client.put("/api/v1/csat/settings", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    again = (await client.get("/api/v1/csat/settings", headers=admin.headers)).json()
    assert again["channels"] == ["whatsapp", "instagram"] and again["interval_days"] == 14
    assert again["texts"]["en"]["question"] == "How did we do?"
    logged = await ctx.pool.fetchval(
        "SELECT count(*) FROM activity_logs WHERE action = 'update_csat_settings'"
    )
    assert logged == 1

    async def refused(patch: dict[str, Any]) -> set[str]:
        r = await client.put("/api/v1/csat/settings", json=patch, headers=admin.headers)
        return fields(problem(r, 422))

    assert await refused({"channels": ["sms"]}) == {"channels.0"}
    assert await refused({"include_link": True}) == {"public_url"}
    assert await refused({"interval_days": 400}) == {"interval_days"}
    assert await refused({"language": "fr"}) == {"language"}
    assert await refused({"public_url": "not a url"}) == {"public_url"}
    texts = {"en": {**again["texts"]["en"], "options": ["a", "b"]}}
    assert await refused({"texts": texts}) == {"texts.en.options"}
    assert await refused({"surprise": 1}) == {"surprise"}

    supervisor = await actors.make("supervisor")
    problem(await client.get("/api/v1/csat/settings", headers=supervisor.headers), 403)
    problem(await client.put("/api/v1/csat/settings", json={}, headers=supervisor.headers), 403)
