"""Several processes on one host (PROMETHEUS_MULTIPROC_DIR): a scrape adds up what each
wrote, a real `omnistream worker` serves its metrics on OMNISTREAM_METRICS_PORT, and the
live gauge of a process that died without a clean shutdown is dropped at the next start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from omnistream.metrics.registry import forget_dead_processes, render
from omnistream.worker import LOOPS
from tests.metrics.support import sample
from tests.processes import CLI, free_port, omnistream_env, stop, wait_http

# A process that counts one request and opens one WebSocket, then ends without marking
# itself dead (as after a SIGKILL).
_ONE_PROCESS = (
    "from omnistream.metrics.registry import HTTP_REQUESTS, WEBSOCKETS; "
    "HTTP_REQUESTS.labels('GET', '/healthz', '200').inc(); WEBSOCKETS.inc()"
)


def test_a_scrape_adds_up_every_process_and_forgets_dead_live_gauges(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", _ONE_PROCESS], env=env, check=True, timeout=60)
    text = render(tmp_path).decode()
    key = {"method": "GET", "route": "/healthz", "status": "200"}
    assert sample(text, "omnistream_http_requests_total", **key) == 2
    assert sample(text, "omnistream_websocket_connections") == 2  # both still counted
    assert len(forget_dead_processes(tmp_path)) == 2
    text = render(tmp_path).decode()
    assert sample(text, "omnistream_websocket_connections") == 0
    assert sample(text, "omnistream_http_requests_total", **key) == 2  # totals stay


def test_a_worker_serves_its_metrics_on_its_own_port(
    tmp_path: Path, test_dsn: str, app: object
) -> None:
    """`app` first: it migrates the test database. Only the inbound loop runs (it claims,
    in a transaction, every idle second)."""
    port = free_port()
    shared = tmp_path / "prom"
    shared.mkdir()
    env = omnistream_env(
        test_dsn,
        tmp_path / "var",
        "metrics",
        metrics_port=str(port),
        db_pool_max="2",
        worker_loops_off=",".join(n for n in LOOPS if n != "inbound"),
    ) | {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_http(url, proc, log, within=60)
        batches = 0.0
        for _ in range(50):
            text = httpx.get(url, timeout=5, trust_env=False).text
            batches = sample(text, "omnistream_worker_batch_seconds_count", loop="inbound")
            if batches:
                break
            time.sleep(0.2)
        assert batches >= 1, log.read_text()
        assert "omnistream_backlog_items" in text
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()
    # What the worker wrote outlives it in the shared directory: an API process's scrape
    # on this host still adds its totals.
    after = render(shared).decode()
    assert sample(after, "omnistream_worker_batch_seconds_count", loop="inbound") >= batches
