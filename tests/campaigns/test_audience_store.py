"""A CSV audience as stored (omnistream/campaigns/audience.py, audience_copy.py): the COPY
of its recipients keeps every value as read, links the numbers that are contacts, orders
the ids down the file, and leaves the table analyzed."""

from __future__ import annotations

from uuid import UUID

from omnistream.campaigns import audience_copy
from omnistream.campaigns.audience_csv import parse_audience_csv
from omnistream.config import Settings
from omnistream.context import AppContext
from tests.campaigns.support import create, numbers, upload, whatsapp
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401
from tests.templates.test_templates import private_fixture, template  # noqa: F401

# Values COPY's text format must escape (tab, line breaks, backslash) and JSON must quote.
AWKWARD = [
    'Toko "Maju"; Jl. Merdeka\r\nNo. 5',
    "tab\there \\ back\\slash \\N",
    "Ünïcödé 日本 🙂",
    "\\",
]


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


async def test_the_stored_recipients_are_the_files_rows(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, monkeypatch
) -> None:
    monkeypatch.setattr(audience_copy, "CHUNK", 4)  # the COPY's data in two pieces
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    phones = numbers(6)
    async with ctx.pool.acquire() as conn:
        contacts = {
            p: await conn.fetchval(
                "INSERT INTO contacts (phone, name) VALUES ($1, 'Known') RETURNING id", p
            )
            for p in phones[1::2]
        }
    campaign = await create(
        client,
        admin,
        account_id,
        template_id,
        variables={"name": {"column": "name"}, "discount": {"column": "discount"}},
    )
    lines = ["phone;name;discount"]
    for i, phone in enumerate(reversed(phones)):  # file order is not number order
        name, discount = AWKWARD[i % len(AWKWARD)], f"{AWKWARD[(i + 1) % len(AWKWARD)]}\\{i}"
        lines.append(f"+{phone};{quoted(name)};{quoted(discount)}")
    text = "\r\n".join(lines) + "\r\n"
    r = await upload(client, admin, campaign["id"], text)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(phones)

    parsed = parse_audience_csv(text.encode(), ["discount"], region="ID")
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, line, phone, name, variables, contact_id, status FROM campaign_recipients"
            " WHERE campaign_id = $1 ORDER BY line",
            UUID(campaign["id"]),
        )
        analyzed = await conn.fetchval(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'campaign_recipients'"
            " AND attname IN ('campaign_id', 'status')"
        )
    assert [(x["line"], x["phone"], x["name"]) for x in rows] == [
        (p.line, p.phone, p.name or "") for p in parsed.recipients
    ]
    assert [x["variables"] for x in rows] == [
        {**p.variables, "phone": p.phone, "name": p.name or ""} for p in parsed.recipients
    ]
    assert {x["phone"]: x["contact_id"] for x in rows} == {p: contacts.get(p) for p in phones}
    assert {x["status"] for x in rows} == {"pending"}
    assert [x["id"] for x in rows] == sorted(x["id"] for x in rows)  # sent in the file's order
    assert all(x["id"].version == 4 for x in rows)
    assert analyzed == 2

    # Uploaded again (the audience replaced): the same rows, new ids.
    r = await upload(client, admin, campaign["id"], text)
    assert r.status_code == 200, r.text
    async with ctx.pool.acquire() as conn:
        again = await conn.fetch(
            "SELECT id, line, name FROM campaign_recipients WHERE campaign_id = $1 ORDER BY id",
            UUID(campaign["id"]),
        )
    assert [(x["line"], x["name"]) for x in again] == [(x["line"], x["name"]) for x in rows]
    assert not {x["id"] for x in again} & {x["id"] for x in rows}
