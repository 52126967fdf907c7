"""An automatic answer (an email auto-reply: content.auto_reply) is no customer message: it
starts no next-response wait on the SLA clock, and answers no CSAT survey; the customer's
own messages after it do."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import asyncpg

from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.messages.ingest import ingest_inbound
from tests.sla.test_sla_engine import add_policy, row, settle

CUSTOMER = "budi@example.com"


async def mail_arrives(ctx: AppContext, text: str, **content: Any) -> asyncpg.Record:
    async with transaction(ctx.pool) as tx:
        stored = await ingest_inbound(
            tx,
            channel="email",
            integration_account_id=None,
            contact=CUSTOMER,
            profile_name="Budi",
            channel_message_id=f"<{secrets.token_hex(8)}@example.com>",
            type="text",
            content={"text": text, **content},
            occurred_at=datetime.now(UTC),
        )
    assert stored is not None
    return stored


async def test_an_auto_reply_starts_no_next_response_wait(ctx: AppContext, client, admin) -> None:
    await add_policy(ctx, first=60, nxt=30, resolution=480)
    first = await mail_arrives(ctx, "Where is my order?")
    conversation_id = first["conversation_id"]
    await settle(ctx)
    assert (await row(ctx, conversation_id))["sla_started_at"] is not None
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "text", "text": "We are checking.", "subject": "Your order"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    await settle(ctx)
    answered = await row(ctx, conversation_id)
    assert answered["sla_first_response_at"] is not None
    assert answered["sla_waiting_since"] is None
    # The customer's mailbox answers on its own: nothing is due.
    await mail_arrives(ctx, "I am out of the office until Monday.", auto_reply=True)
    await settle(ctx)
    assert (await row(ctx, conversation_id))["sla_waiting_since"] is None
    # The customer writes: a next-response wait starts.
    again = await mail_arrives(ctx, "Any news?")
    await settle(ctx)
    assert (await row(ctx, conversation_id))["sla_waiting_since"] == again["created_at"]


async def test_an_auto_reply_is_no_csat_score_nor_feedback(ctx: AppContext, client, admin) -> None:
    """A survey was sent on a resolved email conversation: the customer's mailbox answering
    on its own ("5" in an out-of-office text would be a score) records nothing; the
    customer's own typed score does."""
    first = await mail_arrives(ctx, "Where is my order?")
    conversation_id = first["conversation_id"]
    r = await client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=admin.headers)
    assert r.status_code == 200, r.text
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO csat_surveys (conversation_id, contact_id, channel, language, status, "
            "survey_sent_at, expires_at) SELECT id, contact_id, channel, 'en', 'sent', now(), "
            "now() + interval '7 days' FROM conversations WHERE id = $1",
            conversation_id,
        )
    await mail_arrives(ctx, "5", auto_reply=True)
    async with ctx.pool.acquire() as conn:
        survey = await conn.fetchrow("SELECT score, feedback, status FROM csat_surveys")
    assert (survey["score"], survey["feedback"], survey["status"]) == (None, None, "sent")
    # (Stored through the generic path, which reopened the conversation; the email importer
    # does not reopen for an auto-reply.) Resolved again, the customer's own "4" scores.
    r = await client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=admin.headers)
    assert r.status_code == 200, r.text
    await mail_arrives(ctx, "4")
    async with ctx.pool.acquire() as conn:
        survey = await conn.fetchrow("SELECT score, answered_via FROM csat_surveys")
    assert (survey["score"], survey["answered_via"]) == (4, "text")
