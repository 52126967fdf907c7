"""CSV import (phones normalised in the default region, every bad row reported with its
line, nothing written when any row fails, a dry run writing nothing) and the export (the
contacts the caller may see, with attribute columns)."""

from __future__ import annotations

import csv
import io

import httpx

from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.contacts.screen import CONTACTS, count, rows, standard_attributes

IMPORT = f"{CONTACTS}/import"


async def upload(client: httpx.AsyncClient, who: Agent, text: str, **params: str) -> httpx.Response:
    files = {"file": ("contacts.csv", text.encode(), "text/csv")}
    return await client.post(IMPORT, files=files, params=params, headers=who.headers)


async def test_bad_rows_are_all_reported_and_nothing_is_written(client, ctx, admin) -> None:
    await standard_attributes(client, admin)
    await factories.contact(ctx, name="Existing", phone="6281299990000")
    text = (
        "Nama;No HP;Email;Customer tier;Age;Notes\n"
        "Ani;0812-3456-7001;ani@example.com;Gold;30;x\n"  # line 2: fine
        "Bayu;12345;bayu@example;silver;old;\n"  # line 3: phone, email, age
        ";;;;;\n"  # blank: skipped
        "Citra;+62 812 3456 7001;;platinum;;\n"  # line 5: duplicate of line 2, tier
        "Dewi;0812 9999 0000;;;;\n"  # line 6: taken by an existing contact
        ";;;;;note only\n"  # line 7: nothing to know them by
    )
    body = problem(await upload(client, admin, text), 422)
    found = {(e["line"], e["field"].split(".", 2)[2], e["type"]) for e in body["errors"]}
    assert found == {
        (3, "phone", "phone"),
        (3, "email", "email"),
        (3, "attributes.age", "number_type"),
        (5, "phone", "duplicate"),
        (5, "attributes.tier", "enum"),
        (6, "phone", "taken"),
        (7, "name", "missing"),
    }
    assert all(e["field"].startswith(f"rows.{e['line']}.") for e in body["errors"])
    assert body["rows"] == 5 and body["ignored_columns"] == ["Notes"]
    assert await count(ctx, "SELECT count(*) FROM contacts") == 1  # nothing partial
    assert await count(ctx, "SELECT count(*) FROM activity_logs "
                            "WHERE action = 'import_contacts'") == 0  # fmt: skip


async def test_a_good_file_imports_every_row_with_normalised_phones(client, ctx, admin) -> None:
    await standard_attributes(client, admin)
    text = (
        "name,phone,email,tier,birthday\n"
        "Ani,0812-3456-7001,Ani@Example.com,GOLD,1990-01-02\n"
        '"Santoso, Budi",+62 (812) 3456-7002,,,\n'
        ",6281234567003,,silver,\n"
    )
    r = await upload(client, admin, text, dry_run="true")
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] and r.json()["created"] == 0 and r.json()["rows"] == 3
    assert await count(ctx, "SELECT count(*) FROM contacts") == 0

    r = await upload(client, admin, text)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 3 and len(r.json()["contact_ids"]) == 3
    stored = await rows(ctx, "SELECT name, phone, email, attributes FROM contacts ORDER BY phone")
    assert stored == [
        {"name": "Ani", "phone": "6281234567001", "email": "ani@example.com",
         "attributes": {"tier": "gold", "birthday": "1990-01-02"}},
        {"name": "Santoso, Budi", "phone": "6281234567002", "email": None, "attributes": {}},
        {"name": "", "phone": "6281234567003", "email": None, "attributes": {"tier": "silver"}},
    ]  # fmt: skip
    events = await rows(ctx, "SELECT data FROM event_outbox WHERE type = 'contact.imported'")
    assert events[0]["data"]["count"] == 3
    entry = await rows(ctx, "SELECT metadata_json AS m FROM activity_logs "
                            "WHERE action = 'import_contacts'")  # fmt: skip
    assert entry[0]["m"] == {"count": 3}
    # The same file again: every row's phone is taken now.
    body = problem(await upload(client, admin, text), 422)
    assert {e["type"] for e in body["errors"]} == {"taken"}


async def test_import_refuses_bad_files_and_agents(client, ctx, actors: Actors, admin) -> None:
    agent = await actors.make("agent")
    problem(await upload(client, agent, "name\nAni\n"), 403)
    body = problem(await upload(client, admin, "colour,size\nred,1\n"), 422)
    assert fields(body) == {"file"}
    problem(await upload(client, admin, "name\n" + "x" * (3 * 1024 * 1024)), 413)
    problem(await client.post(IMPORT, json={"name": "x"}, headers=admin.headers), 422)


async def test_export_has_the_visible_contacts_with_attribute_columns(
    client, ctx, actors: Actors, admin
) -> None:
    await standard_attributes(client, admin)
    division = await factories.division(ctx)
    r = await client.post(
        CONTACTS,
        json={"name": "=HYPERLINK(1)", "phone": "0812 3456 7001",
              "attributes": {"tier": "gold", "age": 7}},
        headers=admin.headers,
    )  # fmt: skip
    shown = r.json()["id"]
    await factories.conversation(ctx, contact_id=shown, division_id=division)
    await factories.contact(ctx, name="Hidden")
    supervisor = await actors.make("supervisor")
    r = await client.get(f"{CONTACTS}/export.csv", headers=supervisor.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
    assert [t["name"] for t in table] == ["'=HYPERLINK(1)", "Hidden"]  # formulas never run
    first = table[0]
    assert first["phone"] == "+6281234567001" and first["tier"] == "gold" and first["age"] == "7"
    assert set(first) >= {"id", "email", "identities", "company", "birthday", "created_at"}
    problem(await client.get(f"{CONTACTS}/export.csv", headers=(await actors.make()).headers), 403)
