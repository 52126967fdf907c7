"""What broadcast campaigns need from the sandbox, over real HTTP: template sends answered
with statuses like other sends, failures by recipient (131049 / 131050 / 131026) by number,
prefix, list or a stable fraction, the throughput limit with per-second counts, per-recipient
send counts (exactly once), and a customer's STOP button tap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from omnistream.sandbox import SandboxConfig
from tests.sandbox.test_sandbox import (  # noqa: F401
    SECRET,
    WAMID,
    Receiver,
    account,
    meta_error,
    receiver_server,
    send,
    text,
)
from tests.sandbox_fixture import Sandbox, SandboxAccount, running_sandbox, sandbox_fixture  # noqa: F401


@pytest.fixture(name="http")
async def http_fixture() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture(name="receiver")
def receiver_fixture(receiver_server: Receiver) -> Receiver:  # noqa: F811
    receiver_server.calls.clear()
    receiver_server.fail = 0
    return receiver_server


def template(to: str = "16505551234", name: str = "welcome_offer", **spec: Any) -> dict[str, Any]:
    components = spec.pop("components", None)
    if components is None and name == "welcome_offer":
        params = [
            {"type": "text", "parameter_name": "name", "text": "Ana"},
            {"type": "text", "parameter_name": "discount", "text": "10%"},
        ]
        components = [{"type": "body", "parameters": params}]
    body = {"name": name, "language": {"code": spec.pop("code", "en_US")}, **spec}
    if components is not None:
        body["components"] = components
    return {"messaging_product": "whatsapp", "to": to, "type": "template", "template": body}


async def many(
    http: httpx.AsyncClient, sandbox: Sandbox, wa: SandboxAccount, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    """Send concurrently, 50 at a time."""
    out: list[httpx.Response] = []
    for i in range(0, len(bodies), 50):
        chunk = bodies[i : i + 50]
        out += await asyncio.gather(*(send(http, sandbox, wa, b) for b in chunk))
    return out


def failures(messages: list[dict[str, Any]]) -> dict[str, int]:
    """Recipient -> the error code of its `failed` status."""
    out = {}
    for m in messages:
        for s in m["statuses"]:
            if s["status"] == "failed":
                out[m["to"]] = s["error"]["code"]
    return out


# Template sends ----------------------------------------------------------------------------


async def test_template_send_is_answered_with_statuses_like_a_text(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)
    r = await send(http, sandbox, wa, {**template(), "biz_opaque_callback_data": "rcpt-1"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["contacts"] == [{"input": "16505551234", "wa_id": "16505551234"}]
    [message] = answer["messages"]
    assert WAMID.match(message["id"]) and message["message_status"] == "accepted"
    await sandbox.settle()
    statuses = receiver.statuses()
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert all(c.valid for c in receiver.calls)
    for s in statuses:
        assert s["id"] == message["id"] and s["recipient_id"] == "16505551234"
        assert s["biz_opaque_callback_data"] == "rcpt-1"
    assert statuses[0]["pricing"]["category"] == "marketing"
    assert statuses[0]["conversation"]["origin"] == {"type": "marketing"}

    # The template must exist in that language and be APPROVED; parameters must fit.
    meta_error(await send(http, sandbox, wa, template(name="nope")), 404, 132001)
    meta_error(await send(http, sandbox, wa, template(code="id_ID")), 404, 132001)
    await sandbox.add_template("promo_rejected", status="REJECTED", category="MARKETING")
    meta_error(await send(http, sandbox, wa, template(name="promo_rejected")), 404, 132001)
    one = [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]
    error = meta_error(await send(http, sandbox, wa, template(components=one)), 400, 132000)
    assert error["error_data"]["messaging_product"] == "whatsapp"
    # An approved template added at run time is usable at once.
    await sandbox.add_template(
        "promo_id",
        language="id",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Hai {{1}}"}],
    )
    assert (
        await send(http, sandbox, wa, template(name="promo_id", code="id", components=one))
    ).status_code == 200


# Failures by recipient ---------------------------------------------------------------------


async def test_recipient_failures_are_accepted_then_reported_failed(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)
    await sandbox.add_fault("failed_status", recipient="+62 811-0000-001", code=131049)
    await sandbox.add_fault(
        "failed_status", recipients=["628110000002", "628110000003"], code=131050
    )
    await sandbox.add_fault("failed_status", recipient_prefix="62899", code=131026)
    numbers = ["628110000001", "628110000002", "628110000003", "628990000001", "628110000009"]
    wamids = {}
    for number in numbers:
        r = await send(http, sandbox, wa, template(to=number))
        assert r.status_code == 200, r.text  # accepted now: Meta reports these later
        wamids[number] = r.json()["messages"][0]["id"]
    await sandbox.settle()
    by_number: dict[str, list[dict[str, Any]]] = {}
    for s in receiver.statuses():
        by_number.setdefault(s["recipient_id"], []).append(s)
    expected = {
        "628110000001": 131049,
        "628110000002": 131050,
        "628110000003": 131050,
        "628990000001": 131026,
    }
    for number, code in expected.items():
        [failed] = by_number[number]
        assert failed["status"] == "failed" and failed["id"] == wamids[number]
        [error] = failed["errors"]
        assert error["code"] == code and error["title"] and error["error_data"]["details"]
    assert "marketing" in by_number["628110000002"][0]["errors"][0]["title"]
    assert [s["status"] for s in by_number["628110000009"]] == ["sent", "delivered", "read"]
    listed = {f["code"]: f for f in await sandbox.faults()}
    assert listed[131050]["recipients"] == ["628110000002", "628110000003"]
    assert listed[131049]["recipient"] == "628110000001" and listed[131049]["hits"] == 1


async def test_a_fault_can_strike_template_sends_only(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await account(sandbox)
    await sandbox.add_fault(
        "failed_status", recipient="628120000001", code=131049, message_type="template"
    )
    assert (await send(http, sandbox, wa, template(to="628120000001"))).status_code == 200
    assert (await send(http, sandbox, wa, text(to="628120000001"))).status_code == 200
    await sandbox.settle()
    messages = await sandbox.messages(to="628120000001")
    assert [(m["type"], m["statuses"][-1]["status"]) for m in messages] == [
        ("template", "failed"),
        ("text", "read"),
    ]
    # The synchronous kind answers Meta's error body at once.
    await sandbox.add_fault("error", recipient_prefix="62813", code=131026)
    error = meta_error(await send(http, sandbox, wa, template(to="628130000001")), 400, 131026)
    assert error["error_data"] == {
        "messaging_product": "whatsapp",
        "details": "Message Undeliverable.",
    }


async def test_a_fraction_of_recipients_fails_the_same_way_every_run(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    numbers = [f"6281{i:08d}" for i in range(400)]

    async def run(count: int = 400, **fault: Any) -> dict[str, int]:
        await sandbox.reset()
        # No receipts: only the injected `failed` statuses are reported.
        wa = await account(sandbox, timing={"enabled": False})
        await sandbox.add_fault("failed_status", **fault)
        results = await many(http, sandbox, wa, [template(to=n) for n in numbers[:count]])
        assert {r.status_code for r in results} == {200}
        await sandbox.settle()
        return failures(await sandbox.messages())

    first = await run(fraction=0.1, code=131026)
    assert 20 <= len(first) <= 65 and set(first.values()) == {131026}
    again = await run(fraction=0.1, code=131026)
    assert again == first  # by number, not by chance: a retry fails again too
    other_code = await run(fraction=0.1, code=131049)
    assert set(other_code) != set(first)  # each code picks its own recipients
    seeded = await run(fraction=0.1, code=131049, seed=7)
    assert set(await run(fraction=0.1, code=131026, seed=7)) == set(seeded)
    assert len(await run(50, fraction=0.0, code=131026)) == 0
    assert len(await run(50, fraction=1.0, code=131026)) == 50


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"fraction": 1.5}, "fraction"),
        ({"fraction": -0.1}, "fraction"),
        ({"recipient_prefix": ""}, "recipient_prefix"),
        ({"recipients": "628"}, "recipients"),
    ],
)
async def test_bad_recipient_rule_is_refused(
    sandbox: Sandbox, http: httpx.AsyncClient, fields: dict[str, Any], field: str
) -> None:
    r = await http.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "failed_status", **fields})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", field]]
    seeded = await sandbox.add_fault("failed_status", fraction=0.5, seed=3)
    assert seeded["seed"] == 3 and seeded["fraction"] == 0.5


# Throughput and counts ---------------------------------------------------------------------


async def test_rate_limit_answers_130429_and_every_second_is_counted(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await account(sandbox, rate_limit_per_second=20)
    bodies = [template(to=f"62815{i:07d}") for i in range(60)]
    results = await asyncio.gather(*(send(http, sandbox, wa, b) for b in bodies))
    codes = [r.status_code for r in results]
    assert 20 <= codes.count(200) <= 40 and codes.count(429) >= 20, codes
    error = meta_error(next(r for r in results if r.status_code == 429), 429, 130429)
    assert (
        error["is_transient"] is True and "20 messages per second" in error["error_data"]["details"]
    )
    rate = await sandbox.rate(wa.external_id)
    assert rate["limit"] == 20 and rate["over_limit_seconds"] == []
    assert all(row["accepted"] <= 20 for row in rate["per_second"])
    assert rate["total_accepted"] == codes.count(200)
    assert rate["total_throttled"] == codes.count(429)
    assert sum(row["sends"] for row in rate["per_second"]) == 60
    counts = await sandbox.recipients(account=wa.external_id)
    assert counts["total_recipients"] == 60 and counts["total_accepted"] == codes.count(200)
    assert counts["never_accepted"] == codes.count(429)


async def test_recipient_counts_prove_exactly_once(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await account(sandbox)
    numbers = [f"62816{i:07d}" for i in range(50)]
    await sandbox.add_fault("http_500", recipient=numbers[1], times=1)
    results = await many(http, sandbox, wa, [template(to=n) for n in numbers])
    assert [r.status_code for r in results].count(500) == 1
    assert (await send(http, sandbox, wa, template(to=numbers[1]))).status_code == 200  # retry
    counts = await sandbox.recipients(account=wa.external_id)
    assert (counts["total_recipients"], counts["total_accepted"]) == (50, 50)
    assert (counts["duplicates"], counts["max_accepted"], counts["never_accepted"]) == (0, 1, 0)
    [retried] = (await sandbox.recipients(to=numbers[1]))["recipients"]
    assert retried == {
        "account": wa.external_id,
        "to": numbers[1],
        "attempts": 2,
        "accepted": 1,
        "templates": 1,
    }
    # A second accepted send to one recipient is a duplicate; an agent's text is not a template.
    await send(http, sandbox, wa, template(to=numbers[2]))
    await send(http, sandbox, wa, text(to=numbers[3]))
    twice = await sandbox.recipients(account=wa.external_id, min_accepted=2)
    assert twice["duplicates"] == 2 and twice["max_accepted"] == 2
    assert {(r["to"], r["templates"]) for r in twice["recipients"]} == {
        (numbers[2], 2),
        (numbers[3], 1),
    }
    assert (await sandbox.recipients(limit=0))["recipients"] == []
    await sandbox.reset()
    assert (await sandbox.recipients())["total_recipients"] == 0
    assert (await sandbox.rate())["accounts"] == {}


async def test_benchmark_mode_counts_beyond_the_recording_without_limiting() -> None:
    from omnistream.sandbox.client import SandboxClient

    config = SandboxConfig(instant=True, record_limit=10, rate_limit_per_second=5)
    with running_sandbox(config) as url:
        client = SandboxClient(url)
        try:
            wa = await client.register_account("whatsapp")
            async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
                numbers = [f"62817{i:07d}" for i in range(200)]
                results = await many(http, client, wa, [template(to=n) for n in numbers])
                assert {r.status_code for r in results} == {200}  # not limited
            assert len(await client.requests()) == 10  # the recording keeps only 10 ...
            rate = await client.rate(wa.external_id)
            assert rate["total_accepted"] == 200  # ... the counts keep everything
            assert sum(row["sends"] for row in rate["per_second"]) == 200
            assert rate["limit"] == 5 and rate["over_limit_seconds"]  # reported, not refused
            assert rate["max_accepted_in_any_1s_window"] >= rate["max_accepted_per_second"] > 5
            counts = await client.recipients()
            assert (counts["total_recipients"], counts["duplicates"]) == (200, 0)
        finally:
            await client.aclose()


# A customer taps STOP ----------------------------------------------------------------------


async def test_stop_button_tap_replies_in_context(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver, display_phone_number="15550783881")
    sent = await send(http, sandbox, wa, template(to="628180000001"))
    wamid = sent.json()["messages"][0]["id"]
    await sandbox.settle()
    receiver.calls.clear()

    tap = await sandbox.send_customer(
        wa, "628180000001", "button", text="Stop promos", payload="STOP"
    )
    assert tap["delivered"] is True
    [call] = receiver.calls
    assert call.valid
    value = call.json["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == wa.external_id
    assert value["contacts"][0]["wa_id"] == "628180000001"
    [message] = value["messages"]
    assert message["type"] == "button" and message["from"] == "628180000001"
    assert message["button"] == {"payload": "STOP", "text": "Stop promos"}
    assert message["context"] == {"from": "15550783881", "id": wamid}  # the template quoted

    quoted = await sandbox.send_customer(
        wa, "628180000001", "button", payload="STOP", reply_to="wamid.OTHER="
    )
    assert quoted["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]["context"] == {
        "from": "15550783881",
        "id": "wamid.OTHER=",
    }
    interactive = await sandbox.send_customer(
        wa, "628180000001", "interactive", payload="STOP", reply_title="Stop", reply_to=wamid
    )
    reply = interactive["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert reply["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "STOP", "title": "Stop"},
    }
    assert reply["context"]["id"] == wamid
    # Someone who was never sent anything taps nothing in context.
    cold = await sandbox.send_customer(wa, "628180000002", "button", payload="STOP")
    assert "context" not in cold["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]
