"""CSAT through the sandbox over real HTTP, for WhatsApp, Messenger and Instagram: a resolve
sends the survey (the sandbox saw the list / quick replies), the customer's tap records the
score and a text within 10 minutes the feedback, both leaving the conversation resolved and
the SLA clock alone; a text later reopens as usual. Skips: window closed, recent survey."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from omnistream.sla.consumer import consume as sla_consume
from omnistream.sla.engine import Policies
from tests.csat.support import (
    ANA,
    BUDI,
    PSID,
    Line,
    connect,
    consume_all,
    conversation_of,
    customer_sends,
    enable,
    resolve,
    rows,
    send_all,
    sent_bodies,
    surveys,
    until,
    value,
)
from tests.sandbox_fixture import Sandbox


async def _survey_sent(ctx, client, admin, sandbox, private, registry, line: Line) -> Any:
    """The customer writes, an agent resolves, the consumer and sender run: the survey."""
    await customer_sends(ctx, sandbox, line, text="Where is my order?")
    conversation = await conversation_of(ctx, line)
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    assert await send_all(ctx, private, registry) == 1
    await consume_all(ctx)  # the send's message.updated: the survey is 'sent'
    (survey,) = await surveys(ctx)
    return conversation, survey


def _tap(line: Line, survey_id: Any, score: int, title: str) -> dict[str, Any]:
    payload = f"csat:{survey_id}:{score}"
    if line.channel == "whatsapp":
        return {
            "type": "interactive",
            "interactive_type": "list_reply",
            "reply_id": payload,
            "reply_title": title,
        }
    return {"type": "interactive", "payload": payload, "reply_title": title}


@pytest.mark.parametrize(
    ("channel", "customer"), [("whatsapp", ANA), ("messenger", PSID), ("instagram", PSID)]
)
async def test_survey_answer_and_feedback_keep_the_conversation_resolved(
    ctx, client, admin, sandbox: Sandbox, private, registry, live, channel, customer
) -> None:
    await enable(client, admin)
    line = await connect(ctx, sandbox, channel, customer)
    conversation, survey = await _survey_sent(ctx, client, admin, sandbox, private, registry, line)
    assert (survey["status"], survey["language"], survey["channel"]) == ("sent", "en", channel)
    assert survey["survey_sent_at"] is not None and survey["message_id"] is not None
    (body,) = (await sent_bodies(sandbox, line))[-1:]
    ids = [f"csat:{survey['id']}:{n}" for n in range(1, 6)]
    if channel == "whatsapp":
        interactive = body["interactive"]
        assert interactive["type"] == "list"
        assert interactive["body"]["text"].startswith("Thanks for contacting us!")
        rows_sent = interactive["action"]["sections"][0]["rows"]
        assert [r["id"] for r in rows_sent] == ids
        assert rows_sent[3]["title"] == "4 - Good"
    else:
        assert body["messaging_type"] == "RESPONSE"
        quick = body["message"]["quick_replies"]
        assert [q["payload"] for q in quick] == ids
        assert all(q["content_type"] == "text" for q in quick)

    # The customer taps 4: recorded, still resolved, a thanks text queued.
    unread = await value(ctx, "SELECT unread_count FROM conversations")
    tap = await customer_sends(ctx, sandbox, line, **_tap(line, survey["id"], 4, "4 - Good"))
    (answered,) = await surveys(ctx)
    assert (answered["status"], answered["score"], answered["answered_via"]) == (
        "answered",
        4,
        "button",
    )
    assert await value(ctx, "SELECT status FROM conversations") == "resolved"
    tap_id = await value(ctx, "SELECT id FROM messages WHERE channel_message_id = $1", tap)
    assert answered["answer_message_id"] == tap_id
    thanks = await rows(
        ctx, "SELECT * FROM messages WHERE content ? 'csat_thanks_survey_id' AND status = 'pending'"
    )
    assert len(thanks) == 1 and thanks[0]["sender_agent_id"] is None

    # A text within 10 minutes: the feedback, still resolved.
    await customer_sends(ctx, sandbox, line, text="Fast and friendly, thanks!")
    (with_feedback,) = await surveys(ctx)
    assert with_feedback["feedback"] == "Fast and friendly, thanks!"
    assert with_feedback["score"] == 4
    assert await value(ctx, "SELECT status FROM conversations") == "resolved"
    events = await rows(
        ctx, "SELECT data FROM event_outbox WHERE type = 'csat.answered' ORDER BY pos"
    )
    assert [e["data"]["survey"]["feedback"] for e in events] == [None, "Fast and friendly, thanks!"]
    assert not await rows(ctx, "SELECT 1 FROM event_outbox WHERE type = 'conversation.reopened'")
    # Both are unread: its agent should read a score and a comment (docs/csat.md).
    assert await value(ctx, "SELECT unread_count FROM conversations") == unread + 2

    # The SLA consumer starts no wait for them.
    while (await sla_consume(ctx.pool, Policies())) not in (0, None):
        pass
    assert await value(ctx, "SELECT sla_waiting_since FROM conversations") is None

    # Another text: the customer writes about something else, which reopens as usual.
    await customer_sends(ctx, sandbox, line, text="One more question")
    assert await value(ctx, "SELECT status FROM conversations") == "open"
    assert conversation["id"] == await value(ctx, "SELECT id FROM conversations")


async def test_a_text_after_ten_minutes_reopens_and_the_first_answer_wins(
    ctx, client, admin, sandbox: Sandbox, private, registry, live
) -> None:
    await enable(client, admin)
    line = await connect(ctx, sandbox, "whatsapp", BUDI)
    _, survey = await _survey_sent(ctx, client, admin, sandbox, private, registry, line)
    assert survey["language"] == "id"  # an Indonesian number
    (body,) = (await sent_bodies(sandbox, line))[-1:]
    assert body["interactive"]["body"]["text"].startswith("Terima kasih")
    await customer_sends(ctx, sandbox, line, **_tap(line, survey["id"], 5, "5 - Sangat baik"))
    # A second tap changes nothing and does not reopen either.
    await customer_sends(ctx, sandbox, line, **_tap(line, survey["id"], 1, "1 - Sangat buruk"))
    (answered,) = await surveys(ctx)
    assert answered["score"] == 5
    assert await value(ctx, "SELECT status FROM conversations") == "resolved"
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE csat_surveys SET responded_at = responded_at - $1::interval",
            timedelta(minutes=11),
        )
    await customer_sends(ctx, sandbox, line, text="Halo, saya mau tanya lagi")
    (after,) = await surveys(ctx)
    assert after["feedback"] is None
    assert await value(ctx, "SELECT status FROM conversations") == "open"


async def test_a_typed_score_counts(ctx, client, admin, sandbox, private, registry, live) -> None:
    await enable(client, admin)
    line = await connect(ctx, sandbox, "messenger", PSID)
    await _survey_sent(ctx, client, admin, sandbox, private, registry, line)
    await customer_sends(ctx, sandbox, line, text=" 3 ")
    (answered,) = await surveys(ctx)
    assert (answered["score"], answered["answered_via"]) == (3, "text")
    assert await value(ctx, "SELECT status FROM conversations") == "resolved"


async def test_window_closed_and_recent_survey_are_skipped(
    ctx, client, admin, sandbox: Sandbox, private, registry, live
) -> None:
    await enable(client, admin)
    line = await connect(ctx, sandbox, "whatsapp", ANA)
    await customer_sends(ctx, sandbox, line, text="Hello")
    conversation = await conversation_of(ctx, line)
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'")
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    (skipped,) = await surveys(ctx)
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped", "window_closed")
    assert skipped["message_id"] is None and skipped["token_hash"] is None
    assert await send_all(ctx, private, registry) == 0

    # The customer writes again (reopens), is resolved and surveyed; the next resolve within
    # the interval is skipped.
    await customer_sends(ctx, sandbox, line, text="Hello again")
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    assert await send_all(ctx, private, registry) == 1
    r = await client.post(
        f"/api/v1/conversations/{conversation['id']}/reopen", headers=admin.headers
    )
    assert r.status_code == 200, r.text
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    found = await surveys(ctx)
    assert [(s["status"], s["skip_reason"]) for s in found] == [
        ("skipped", "window_closed"),
        ("sent", None),
        ("skipped", "recent_survey"),
    ]
    # Consuming again writes nothing twice (one survey per resolve).
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE event_consumers SET position = 0 WHERE name = 'csat'")
    await consume_all(ctx)
    assert len(await surveys(ctx)) == 3


async def test_channels_off_send_nothing(
    ctx, client, admin, sandbox: Sandbox, private, registry, live
) -> None:
    await enable(client, admin, channels=["messenger"])
    line = await connect(ctx, sandbox, "whatsapp", ANA)
    await customer_sends(ctx, sandbox, line, text="Hello")
    conversation = await conversation_of(ctx, line)
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    assert await surveys(ctx) == []
    assert await send_all(ctx, private, registry) == 0


async def test_the_survey_waits_for_its_send(ctx, client, admin, sandbox, private, live) -> None:
    """Before the sender ran, the survey is pending and a tap already counts."""
    await enable(client, admin)
    line = await connect(ctx, sandbox, "whatsapp", ANA)
    await customer_sends(ctx, sandbox, line, text="Hello")
    conversation = await conversation_of(ctx, line)
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    (survey,) = await surveys(ctx)
    assert survey["status"] == "pending"

    async def answered() -> bool:
        return bool(await value(ctx, "SELECT score FROM csat_surveys"))

    await customer_sends(ctx, sandbox, line, **_tap(line, survey["id"], 2, "2 - Poor"))
    await until("answered", answered)
    await consume_all(ctx)
    assert await value(ctx, "SELECT status FROM csat_surveys") == "answered"
