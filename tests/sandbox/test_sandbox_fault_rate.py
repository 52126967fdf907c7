"""Sandbox faults chosen by rate (`every`, `probability` + `seed`), over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def sends(
    http: httpx.AsyncClient, sandbox: Sandbox, wa: SandboxAccount, count: int, to: str = "628100"
) -> list[int]:
    """Send `count` texts one after another; the HTTP status of each."""
    out = []
    for i in range(count):
        body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": f"{i}"}}
        r = await http.post(
            f"{sandbox.graph()}/{wa.external_id}/messages", json=body, headers=wa.headers
        )
        assert r.status_code in (200, 400), r.text
        if r.status_code == 400:
            assert r.json()["error"]["code"] == 131026
        out.append(r.status_code)
    return out


def struck(statuses: list[int]) -> list[int]:
    return [i for i, status in enumerate(statuses) if status != 200]


async def test_every_third_send_fails(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await sandbox.register_account("whatsapp")
    fault = await sandbox.add_fault("error", account=wa.external_id, code=131026, every=3)
    assert fault["every"] == 3 and fault["seen"] == 0
    statuses = await sends(http, sandbox, wa, 30)
    assert struck(statuses) == list(range(2, 30, 3))  # the 3rd, 6th, ... 30th: 10 of 30
    [listed] = await sandbox.faults()
    assert listed["seen"] == 30 and listed["hits"] == 10
    recorded = await sandbox.requests(path="/messages")
    assert sum(1 for r in recorded if r.get("faults") == [fault["id"]]) == 10


async def test_every_counts_only_matching_requests_and_respects_times(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await sandbox.register_account("whatsapp")
    await sandbox.add_fault("error", recipient="628777", code=131026, every=2, times=2)
    mixed = []
    for _ in range(6):  # the other recipient's sends do not advance the count
        mixed += await sends(http, sandbox, wa, 1, to="628111")
        mixed += await sends(http, sandbox, wa, 1, to="628777")
    # 628777's sends are the odd positions; its 2nd and 4th fail, then `times` is used up.
    assert struck(mixed) == [3, 7]
    assert await sandbox.faults() == []


async def test_probability_with_seed_is_reproducible(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await sandbox.register_account("whatsapp")
    runs = []
    for seed in (7, 7, 8):
        await sandbox.clear_faults()
        await sandbox.add_fault("error", code=131026, probability=0.3, seed=seed)
        runs.append(struck(await sends(http, sandbox, wa, 200)))
    assert 35 <= len(runs[0]) <= 85  # 60 expected; the band is > 3.5 standard deviations
    assert runs[1] == runs[0]  # same seed: the same requests fail
    assert runs[2] != runs[0]  # another seed: other requests

    await sandbox.clear_faults()
    await sandbox.add_fault("error", code=131026, probability=1)
    assert struck(await sends(http, sandbox, wa, 5)) == [0, 1, 2, 3, 4]
    await sandbox.clear_faults()
    await sandbox.add_fault("error", code=131026, probability=0)
    assert struck(await sends(http, sandbox, wa, 5)) == []
    [listed] = await sandbox.faults()
    assert listed["seen"] == 5 and listed["hits"] == 0


async def test_every_and_probability_combine(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await sandbox.register_account("whatsapp")
    await sandbox.add_fault("error", code=131026, every=2, probability=0.5, seed=1)
    failed = struck(await sends(http, sandbox, wa, 100))
    assert failed and all(i % 2 == 1 for i in failed)  # only every 2nd request can fail
    assert 10 <= len(failed) <= 40  # about half of the 50 picked


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"every": 0}, "every"),
        ({"every": "often"}, "every"),
        ({"probability": 1.5}, "probability"),
        ({"probability": -0.1}, "probability"),
        ({"seed": 3}, "seed"),
        ({"seed": "x", "probability": 0.5}, "seed"),
    ],
)
async def test_bad_rate_is_refused_naming_the_field(
    sandbox: Sandbox, http: httpx.AsyncClient, fields: dict[str, Any], field: str
) -> None:
    r = await http.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "error", **fields})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", field]]
    assert await sandbox.faults() == []
