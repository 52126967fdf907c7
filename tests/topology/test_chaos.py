"""Chaos, the short version (issue 18; the long one is bench/chaos.py, same code in
bench/harness/chaos.py and chaos_check.py): on the topology (HAProxy, 2 `omnistream serve`,
2 `omnistream worker`, a PostgreSQL primary and a streaming replica), for 30 s of
mixed load through HAProxy (customers writing in through the Graph API sandbox, an agent's
replies, a campaign, scheduled messages, an outgoing webhook to a local receiver, four
live-event clients), an API or worker process is SIGKILLed every 5-10 s and restarted (the
first two kills: one of each). After every backlog drained:
- every inbound webhook the sandbox delivered is applied once (one message per wamid);
- every reply, scheduled message and campaign recipient was accepted by the sandbox exactly
  once, and nothing else was sent;
- every message.created event reached the webhook receiver at least once, with its event
  id as webhook-id;
- each live client received every event an admin may see, in order, with no gap, however
  often it had to reconnect and resume.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.chaos import TOPOLOGY_SETTINGS, ChaosConfig, peers
from harness.chaos_check import chaos_run
from harness.topology import Topology, running_topology


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("chaos"))


@pytest.fixture(scope="module")
def topo(workdir: Path) -> Iterator[Topology]:
    with running_topology(workdir / "topology", settings=TOPOLOGY_SETTINGS) as topology:
        yield topology


@pytest.mark.timeout(240)
async def test_sigkills_under_mixed_load_lose_nothing_and_do_nothing_twice(
    topo: Topology, workdir: Path
) -> None:
    config = ChaosConfig(
        seconds=30, kill_every=(5.0, 10.0), inbound_per_second=6.0, live_clients=4, seed=18
    )
    with peers(workdir) as (sandbox, receiver):
        report = await chaos_run(topo, sandbox.url, receiver, workdir / "arrivals.tsv", config)
    print(json.dumps(report, default=str))
    assert report["problems"] == []
    killed = {kill["process"][:-1] for kill in report["kills"]}
    assert killed == {"api", "worker"}, report["kills"]
    # The work really happened across the kills.
    assert report["inbound"]["applied"] > 100
    assert report["outbound"]["campaign_recipients"] == {"sent": config.campaign_recipients}
    assert report["webhooks"]["events"] > 100
    assert all(client["events"] > 100 for client in report["live"])
    # The live clients on the first API killed reconnected through HAProxy and resumed.
    api = next(kill["process"] for kill in report["kills"] if kill["process"][:3] == "api")
    on_it = [client for client in report["live"] if client["servers"][0] == api]
    assert on_it, report["live"]  # (four clients, round robin: some were on it)
    assert all(client["connections"] > 1 for client in on_it), on_it
