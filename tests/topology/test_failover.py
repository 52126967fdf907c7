"""Fail-over on the several-process topology (issue 18), all real processes on loopback:
HAProxy in front of 2 `omnistream serve`, 2 `omnistream worker`, a PostgreSQL primary and a
streaming replica (bench/harness/topology.py).

1. An API process SIGKILLed while live-event clients are connected through HAProxy and
   actions are being made: the clients on it reconnect through HAProxy (to the other
   process, then to either) and resume after the last seq they got; each ends with every
   event an admin may see in the outbox, in order, no gap (bench/harness/live.py).
2. The replica killed: the reads routed to it (reports, search, activity log, contact
   lists) keep answering 200 from the primary; started again, they still do, and the APIs
   read from it again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from harness.live import LiveClient, missing, top_seq
from harness.topology import Topology

ROUTED_READS = [
    "/api/v1/reports/conversations",
    "/api/v1/search?q=halo",
    "/api/v1/activity",
    "/api/v1/contacts",
]


@pytest.fixture(scope="module")
def topo(topology: Topology) -> Topology:
    """The module's topology (tests/topology/conftest.py)."""
    return topology


def admin_token(topo: Topology) -> tuple[str, str]:
    """(an access token, the admin's id), signed in through the front."""
    body = {"email": topo.admin_email, "password": topo.admin_password}
    r = httpx.post(f"{topo.url}/api/v1/auth/login", json=body, timeout=30, trust_env=False)
    assert r.status_code == 200, r.text
    token = str(r.json()["access_token"])
    headers = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{topo.url}/api/v1/auth/me", headers=headers, timeout=30, trust_env=False)
    assert me.status_code == 200, me.text
    return token, str(me.json()["id"])


async def act(http: httpx.AsyncClient, stop: asyncio.Event, answers: Counter[str]) -> None:
    """An admin making changes through the front (contacts created and renamed: events
    every admin's socket receives), as fast as answers come back; a request cut by a kill
    counts by its answer."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            r = await http.post("/api/v1/contacts", json={"name": f"Failover {n}"})
            answers[str(r.status_code)] += 1
            if r.status_code == 201:
                contact = r.json()["id"]
                r = await http.patch(f"/api/v1/contacts/{contact}", json={"name": f"Renamed {n}"})
                answers[str(r.status_code)] += 1
        except httpx.TransportError as exc:
            answers[type(exc).__name__] += 1
        await asyncio.sleep(0.02)


@pytest.mark.timeout(120)
async def test_clients_of_a_killed_api_resume_through_haproxy_with_no_event_lost(
    topo: Topology,
) -> None:
    token, admin_id = admin_token(topo)
    start = await top_seq(topo.primary_dsn)
    ws = topo.url.replace("http://", "ws://") + "/api/v1/ws"
    clients = [LiveClient(ws, token, start, name=f"client{n}") for n in range(4)]
    for client in clients:
        client.start()
    headers = {"Authorization": f"Bearer {token}"}
    answers: Counter[str] = Counter()
    stop = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=topo.url, headers=headers, timeout=30, trust_env=False
    ) as http:
        try:
            deadline = time.monotonic() + 20
            while not all(c.connections for c in clients):  # round robin: both APIs
                assert time.monotonic() < deadline, [c.report() for c in clients]
                await asyncio.sleep(0.05)
            actions = asyncio.create_task(act(http, stop, answers))
            await asyncio.sleep(2)
            await asyncio.to_thread(topo.kill_api, 0)  # mid-traffic, sockets open on it
            await asyncio.sleep(2)  # the other process carries everything meanwhile
            await asyncio.to_thread(topo.start_api, 0)
            await asyncio.to_thread(topo.wait_front)
            await asyncio.sleep(2)
            stop.set()
            await actions
            top = await top_seq(topo.primary_dsn)
            for client in clients:
                assert await client.reached(top, 20), client.report()
            lost = {c.name: await missing(topo.primary_dsn, c, admin_id, top) for c in clients}
        finally:
            stop.set()
            for client in clients:
                await client.stop()
    reports: dict[str, Any] = {c.name: c.report() for c in clients}
    print(f"actions answered {dict(answers)}; clients {reports}")
    assert answers["201"] > 20, answers
    assert lost == {c.name: [] for c in clients}
    assert all(not c.gaps and not reports[c.name]["out_of_order"] for c in clients), reports
    # The clients on the killed process reconnected once, through HAProxy to the other
    # one; the others never noticed (no socket closed by a server error either).
    on_killed = [c for c in clients if c.servers[0] == "api0"]
    assert on_killed, reports  # (round robin: some of the four were on it)
    assert all(c.servers[:2] == ["api0", "api1"] for c in on_killed), reports
    assert all(c.connections == 1 for c in clients if c not in on_killed), reports
    assert not [c.closes for c in clients if any("1011" in why for why in c.closes)], reports


@pytest.mark.timeout(90)
async def test_routed_reads_fall_back_to_the_primary_while_the_replica_is_down(
    topo: Topology,
) -> None:
    headers = {"Authorization": f"Bearer {admin_token(topo)[0]}"}
    async with httpx.AsyncClient(
        base_url=topo.url, headers=headers, timeout=30, trust_env=False
    ) as http:

        async def read_all(label: str) -> None:
            for path in ROUTED_READS:
                r = await http.get(path)
                assert r.status_code == 200, (label, path, r.status_code, r.text[:300])

        r = await http.post("/api/v1/contacts", json={"name": "Read while down"})
        assert r.status_code == 201, r.text
        await read_all("replica up")
        # (the APIs' read pools hold sessions on the replica: the reads are routed there)
        assert await asyncio.to_thread(topo.replica_sessions) > 0
        await asyncio.to_thread(topo.kill_replica)
        try:
            # At once (requests racing the probe that notices) and for a while after.
            until = time.monotonic() + 4
            while time.monotonic() < until:
                await read_all("replica down")
            r = await http.get("/api/v1/contacts", params={"q": "Read while down"})
            assert r.status_code == 200 and r.json()["items"], r.text
        finally:
            await asyncio.to_thread(topo.start_replica)
        await read_all("replica back")
        # Back in use once the APIs' probes see it streaming again.
        deadline = time.monotonic() + 20
        while await asyncio.to_thread(topo.replica_sessions) == 0:
            assert time.monotonic() < deadline, "the APIs did not return to the replica"
            await read_all("replica back")
            await asyncio.sleep(0.5)
