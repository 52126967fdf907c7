"""Starting an email conversation (POST /api/v1/conversations/email): the first mail goes out
through the real sender to aiosmtpd as a new thread, the customer's answer appended to a
real Dovecot and imported lands in the same conversation; who may see it; 422s that write
nothing; the accounts agents may send from."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from omnistream.context import AppContext
from tests import factories
from tests.channels.email.importing import fetch, mail, run_import, sending_account
from tests.channels.email.mailboxes import credentials, email_integration, tick
from tests.conftest import Actors, Agent, fields, problem

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

NEW = "/api/v1/conversations/email"


async def counts(ctx: AppContext) -> dict[str, int]:
    tables = ("contacts", "conversations", "messages", "event_outbox", "activity_logs")
    found = {}
    for table in tables:
        (row,) = await fetch(ctx, f"SELECT count(*) AS n FROM {table}")
        found[table] = row["n"]
    return found


async def test_a_new_thread_is_sent_and_the_customers_answer_continues_it(
    ctx, client, actors: Actors, settings, registry, smtp, dovecot, mail_user
) -> None:
    account = await sending_account(ctx, dovecot, mail_user, smtp.port)
    sales, other = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[sales])
    r = await client.post(
        NEW,
        json={
            "account_id": str(account.id), "to": "Sari@Example.id", "name": "Sari Dewi",
            "subject": " Your order 42 ", "text": "Hello Sari,\n\nYour order has shipped.",
            "cc": ["Ops@Example.id"], "division_id": str(sales),
        },
        headers=agent.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    conversation, message = r.json()["conversation"], r.json()["message"]
    assert (conversation["channel"], conversation["status"]) == ("email", "open")
    assert conversation["assigned_agent_id"] == str(agent.id)
    assert conversation["division_id"] == str(sales)
    assert conversation["integration_account_id"] == str(account.id)
    assert conversation["last_message_preview"] == "Hello Sari, Your order has shipped."
    assert (message["status"], message["direction"], message["sender_agent_id"]) == (
        "pending", "outbound", str(agent.id),
    )  # fmt: skip
    assert message["content"] == {
        "text": "Hello Sari,\n\nYour order has shipped.",
        "subject": "Your order 42",
        "cc": ["ops@example.id"],
    }
    conversation_id = UUID(conversation["id"])
    (contact,) = await fetch(
        ctx, "SELECT * FROM contacts WHERE id = $1", UUID(conversation["contact_id"])
    )
    assert (contact["name"], contact["email"], contact["name_source"]) == (
        "Sari Dewi", "sari@example.id", "agent",
    )  # fmt: skip
    events = await fetch(ctx, "SELECT type, audience FROM event_outbox ORDER BY pos")
    assert [e["type"] for e in events] == [
        "contact.created", "conversation.created", "message.created",
    ]  # fmt: skip
    assert events[1]["audience"] == [
        {"division_id": str(sales), "assigned_agent_id": str(agent.id)}
    ]
    actions = await fetch(
        ctx, "SELECT action, target_id FROM activity_logs WHERE agent_id = $1 "
        "AND action <> 'login' ORDER BY created_at", agent.id,
    )  # fmt: skip
    assert [(a["action"], a["target_id"]) for a in actions] == [
        ("start_conversation", conversation_id), ("send_message", conversation_id),
    ]  # fmt: skip

    assert await tick(ctx, settings, registry) == 1
    (received,) = smtp.received
    sent = received.message()
    ours = f"<conversation/{conversation_id}/messages/{message['id']}@omnistream.test>"
    assert sent["Message-ID"] == ours
    assert sent["Subject"] == "Your order 42"
    assert (sent["To"], sent["Cc"]) == ("sari@example.id", "ops@example.id")
    assert sent["In-Reply-To"] is None and sent["References"] is None
    assert received.rcpt_tos == ("sari@example.id", "ops@example.id")

    answer = mail(
        "Sari Dewi <sari@example.id>", "Re: Your order 42", "Thank you!",
        in_reply_to=ours, references=ours,
    )  # fmt: skip
    await dovecot.append(answer, mail_user)
    assert (await run_import(account, ctx)).stored == 1
    rows = await fetch(
        ctx, "SELECT conversation_id, direction FROM messages ORDER BY created_at, id"
    )
    assert [(r["conversation_id"], r["direction"]) for r in rows] == [
        (conversation_id, "outbound"), (conversation_id, "inbound"),
    ]  # fmt: skip
    assert len(await fetch(ctx, "SELECT id FROM conversations")) == 1

    # Who sees it: the agent it is assigned to; not an agent of another division.
    outsider = await actors.make("agent", divisions=[other])
    colleague = await actors.make("agent", divisions=[sales])
    path = f"/api/v1/conversations/{conversation_id}"
    assert (await client.get(path, headers=agent.headers)).status_code == 200
    problem(await client.get(path, headers=outsider.headers), 404)
    problem(await client.get(path, headers=colleague.headers), 404)  # assigned to someone else
    listed = await client.get("/api/v1/conversations", headers=outsider.headers)
    assert listed.json()["items"] == []


async def test_an_existing_contact_is_used_unchanged_and_nothing_else_shows(
    ctx, client, actors: Actors, smtp
) -> None:
    account = await email_integration(ctx, credentials(smtp.port))
    mine, theirs = await factories.division(ctx), await factories.division(ctx)
    contact_id = await factories.contact(ctx, name="Budi Santoso", email="budi@example.id")
    agent = await actors.make("agent", divisions=[mine])
    known = await factories.conversation(ctx, contact_id=contact_id, division_id=mine)
    hidden = await factories.conversation(ctx, contact_id=contact_id, division_id=theirs)
    r = await client.post(
        NEW,
        json={"account_id": str(account.account_id), "to": "BUDI@example.id", "name": "Mallory",
              "subject": "Hello", "text": "Hi"},
        headers=agent.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["conversation"]["contact_id"] == str(contact_id)
    assert r.json()["conversation"]["division_id"] is None
    (contact,) = await fetch(ctx, "SELECT name FROM contacts WHERE id = $1", contact_id)
    assert contact["name"] == "Budi Santoso"  # the given name renames no one
    problem(await client.get(f"/api/v1/conversations/{hidden}", headers=agent.headers), 404)
    mine_listed = await client.get(
        f"/api/v1/contacts/{contact_id}/conversations", headers=agent.headers
    )
    assert {c["id"] for c in mine_listed.json()["items"]} == {
        r.json()["conversation"]["id"],
        str(known),
    }
    types = [e["type"] for e in await fetch(ctx, "SELECT type FROM event_outbox ORDER BY pos")]
    assert types == ["conversation.created", "message.created"]  # no contact.created


async def test_an_agent_cannot_reach_a_customer_of_another_division_by_address(
    ctx, client, actors: Actors, smtp
) -> None:
    """Writing to them would show the agent that contact's profile: refused, nothing written;
    a supervisor (who sees every contact) may."""
    account = await email_integration(ctx, credentials(smtp.port))
    mine, theirs = await factories.division(ctx), await factories.division(ctx)
    contact_id = await factories.contact(ctx, name="Budi Santoso", email="budi@example.id")
    await factories.conversation(ctx, contact_id=contact_id, division_id=theirs)
    agent = await actors.make("agent", divisions=[mine])
    body = {"account_id": str(account.account_id), "to": "budi@example.id",
            "subject": "Hello", "text": "Hi"}  # fmt: skip
    before = await counts(ctx)
    refused = await client.post(NEW, json=body, headers=agent.headers)
    assert fields(problem(refused, 422)) == {"to"}
    assert "outside your divisions" in refused.text and "Budi" not in refused.text
    assert await counts(ctx) == before
    supervisor = await actors.make("supervisor", divisions=[mine])
    r = await client.post(NEW, json=body, headers=supervisor.headers)
    assert r.status_code == 201, r.text
    assert r.json()["conversation"]["contact_id"] == str(contact_id)


async def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    ctx, client, actors: Actors, smtp
) -> None:
    account = await email_integration(ctx, credentials(smtp.port))
    off = await email_integration(ctx, credentials(smtp.port), mailbox="old@omnistream.test",
                                  active=False)  # fmt: skip
    async with ctx.pool.acquire() as conn:
        whatsapp = await conn.fetchval(
            "WITH i AS (INSERT INTO integrations (channel, name, credentials_json) "
            "VALUES ('whatsapp', 'WA', '{}') RETURNING id) "
            "INSERT INTO integration_accounts (integration_id, external_id) "
            "SELECT id, '1234567890' FROM i RETURNING id"
        )
    mine, elsewhere = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[mine])
    good: dict[str, Any] = {
        "account_id": str(account.account_id), "to": "sari@example.id",
        "subject": "Hello", "text": "Hi",
    }  # fmt: skip
    before = await counts(ctx)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"account_id": str(uuid4())}, "account_id"),
        ({"account_id": str(off.account_id)}, "account_id"),
        ({"account_id": str(whatsapp)}, "account_id"),
        ({"account_id": "nope"}, "account_id"),
        ({"to": "not an address"}, "to"),
        ({"to": "Support@Omnistream.test"}, "to"),
        ({"subject": None}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "Two\nlines"}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"text": None}, "text"),
        ({"text": " \n "}, "text"),
        ({"cc": ["not an address"]}, "cc.0"),
        ({"cc": [f"a{n}@example.id" for n in range(21)]}, "cc"),
        ({"division_id": str(elsewhere)}, "division_id"),
        ({"division_id": str(uuid4())}, "division_id"),
        ({"surprise": 1}, "surprise"),
    ]
    for change, field in cases:
        body = {k: v for k, v in {**good, **change}.items() if v is not None}
        r = await client.post(NEW, json=body, headers=agent.headers)
        assert fields(problem(r, 422)) == {field}, (change, r.text)
    assert await counts(ctx) == before
    # The same body with its own division goes through.
    r = await client.post(NEW, json={**good, "division_id": str(mine)}, headers=agent.headers)
    assert r.status_code == 201, r.text


async def test_the_accounts_one_may_send_from(ctx, client, actors: Actors, admin: Agent) -> None:
    first = await email_integration(ctx, credentials(2525, from_name="Acme Support"))
    second = await email_integration(
        ctx, credentials(2525, from_name=""), mailbox="billing@omnistream.test"
    )
    await email_integration(ctx, credentials(2525), mailbox="old@omnistream.test", active=False)
    agent = await actors.make("agent")
    for who in (agent, admin):
        r = await client.get(f"{NEW}/accounts", headers=who.headers)
        assert r.status_code == 200, r.text
        assert r.json() == [
            {"id": str(second.account_id), "address": "billing@omnistream.test",
             "from_name": None, "integration_name": "Support mailbox"},
            {"id": str(first.account_id), "address": "support@omnistream.test",
             "from_name": "Acme Support", "integration_name": "Support mailbox"},
        ]  # fmt: skip
    problem(await client.get(f"{NEW}/accounts"), 401)


async def test_an_admin_may_start_one_in_any_division(
    ctx, client: httpx.AsyncClient, admin: Agent, smtp
) -> None:
    account = await email_integration(ctx, credentials(smtp.port))
    division = await factories.division(ctx)
    r = await client.post(
        NEW,
        json={"account_id": str(account.account_id), "to": "sari@example.id",
              "subject": "Hello", "text": "Hi", "division_id": str(division)},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["conversation"]["division_id"] == str(division)
