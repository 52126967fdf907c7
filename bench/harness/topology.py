"""The several-process topology of issue 18, all real processes on loopback: a PostgreSQL
primary and a streaming replica (made with pg_basebackup), HAProxy in front of N
`omnistream serve` processes, and M `omnistream worker` processes.

    with running_topology(workdir) as topo:
        topo.url            # HAProxy (round robin over the APIs, WebSocket upgrade included)
        topo.api_urls[1]    # one API process directly
        topo.kill_api(0); topo.start_api(0)

Everything is stopped for sure on the way out, also after a failure: each process runs in
a session of its own (its whole group is killed), both PostgreSQL servers are shut down.
PostgreSQL refuses to run as root, so under root its servers (and initdb, pg_basebackup)
run as the `postgres` OS user, with their data in a folder of their own that this user
owns (a pytest tmp folder is private to root); the logs stay in `workdir`.

Used by bench/topology.py (the script) and tests/topology/conftest.py (the fixture).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.core import BenchError, tail
from harness.pgcluster import (
    POSTGRES_SETTINGS,
    PostgresServer,
    kill_group,
    make_servers,
    psql,
    spawn,
    start_replica,
    stop_group,
)
from harness.processes import (
    ADMIN_EMAIL,
    Process,
    free_port,
    omnistream_command,
    omnistream_env,
    wait_ready,
)

HAPROXY = os.environ.get("BENCH_HAPROXY", "/usr/sbin/haproxy")
ADMIN_PASSWORD = "topology admin password"
# What every omnistream process of the topology gets (the caller's settings win): one
# secret key (a token made by one API is checked by the other), cheap argon2 (logins are
# not what is measured), loopback peers allowed (the sandbox, webhook receivers).
OMNISTREAM_SETTINGS: dict[str, str] = {
    "SECRET_KEY": "topology-secret-" + "k" * 40,
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_KIB": "1024",
    "ARGON2_PARALLELISM": "1",
    "ALLOW_PRIVATE_URLS": "true",
    "ACCESS_LOG": "false",
    "DB_POOL_MAX": "8",
}


@dataclass
class Topology:
    url: str  # HAProxy's front: http://127.0.0.1:<port>
    api_urls: list[str]  # each serve process directly
    primary_dsn: str
    replica_dsn: str
    workdir: Path
    pgdir: Path  # the PostgreSQL data folders (owned by the postgres OS user)
    admin_email: str
    admin_password: str
    primary: PostgresServer
    replica: PostgresServer
    haproxy: Process
    apis: list[Process | None] = field(default_factory=list)
    workers: list[Process | None] = field(default_factory=list)
    api_env: dict[str, str] = field(default_factory=dict, repr=False)
    worker_env: dict[str, str] = field(default_factory=dict, repr=False)
    ready_timeout: float = 90

    # ------------------------------------------------------------------ API processes
    def start_api(self, i: int) -> None:
        """(Re)starts API process `i` on its port; returns once its /readyz answers 200."""
        self.kill_api(i)
        port = int(self.api_urls[i].rsplit(":", 1)[1])
        env = self.api_env | {"OMNISTREAM_PORT": str(port)}
        label = f"api{i}"
        proc = spawn(omnistream_command("serve"), self.workdir / f"{label}.log", env=env)
        process = Process(proc, self.workdir / f"{label}.log", label, url=self.api_urls[i])
        self.apis[i] = process
        wait_ready(self.api_urls[i], process, self.ready_timeout)

    def kill_api(self, i: int) -> None:
        """SIGKILL to API process `i` (its whole group); nothing graceful."""
        process = self.apis[i]
        if process is not None:
            kill_group(process.proc)
            self.apis[i] = None

    def stop_api(self, i: int, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """A graceful stop (`sig`, SIGKILL after `timeout`); the exit code."""
        process = self.apis[i]
        if process is None:
            return None
        stop_group(process.proc, sig, timeout)
        self.apis[i] = None
        return process.proc.returncode

    # --------------------------------------------------------------- worker processes
    def start_worker(self, i: int) -> None:
        """(Re)starts worker `i`; returns once it holds its liveness lock (every worker
        takes one at start: omnistream/workers/liveness.py)."""
        self.kill_worker(i)
        label = f"worker{i}"
        log_path = self.workdir / f"{label}.log"
        proc = spawn(omnistream_command("worker"), log_path, env=self.worker_env)
        process = Process(proc, log_path, label)
        self.workers[i] = process
        started = time.monotonic()
        want = sum(w is not None for w in self.workers)
        while self.worker_locks() < want:
            process.check_alive()
            if time.monotonic() - started > self.ready_timeout:
                raise BenchError(f"the {label} took no liveness lock:\n{tail(log_path)}")
            time.sleep(0.1)
        process.ready_s = time.monotonic() - started

    def kill_worker(self, i: int) -> None:
        """SIGKILL to worker `i`; returns once PostgreSQL has ended its lock's session (so
        a start_worker right after counts only live workers' locks)."""
        process = self.workers[i]
        if process is not None:
            kill_group(process.proc)
            self.workers[i] = None
            deadline = time.monotonic() + 10
            while self.worker_locks() > sum(w is not None for w in self.workers):
                if time.monotonic() > deadline:
                    break  # a stale count only makes the next start_worker return early
                time.sleep(0.05)

    def stop_worker(self, i: int, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        process = self.workers[i]
        if process is None:
            return None
        stop_group(process.proc, sig, timeout)
        self.workers[i] = None
        return process.proc.returncode

    def worker_locks(self) -> int:
        """How many workers hold a liveness lock on the primary now."""
        value = psql(
            self.primary_dsn,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'omnistream worker lock'",
        )
        return int(value) if value else 0

    # ------------------------------------------------------------------------ replica
    def kill_replica(self) -> None:
        """Immediate shutdown of the replica (SIGQUIT to its postmaster)."""
        self.replica.stop(immediate=True)

    def start_replica(self) -> None:
        """Starts the replica again; returns once it accepts connections."""
        if self.replica.pid is None:
            self.replica.start()

    def replica_sessions(self) -> int:
        """Sessions on the replica's database other than psql's: the APIs' read pools."""
        value = psql(
            self.replica_dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        return int(value) if value else 0

    def replica_streaming(self) -> bool:
        return psql(self.replica_dsn, "SELECT status FROM pg_stat_wal_receiver") == "streaming"

    def replica_lag_seconds(self) -> float | None:
        """0 when the replica has replayed all the primary has written, else the age of the
        last transaction it replayed (pg_last_xact_replay_timestamp); None when the replica
        cannot be reached or has replayed nothing yet."""
        current = psql(self.primary_dsn, "SELECT pg_current_wal_insert_lsn()")
        if current is None:
            return None
        value = psql(
            self.replica_dsn,
            f"SELECT CASE WHEN pg_last_wal_replay_lsn() >= '{current}'::pg_lsn THEN 0 "
            "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END",
        )
        return None if value in (None, "") else max(0.0, float(value))

    def wait_replica_caught_up(self, timeout: float = 30) -> float:
        """Until the replica replayed what the primary has written now; seconds waited."""
        started = time.monotonic()
        # The insert position, not pg_current_wal_lsn (the write position): with
        # synchronous_commit off a commit may not be written out yet.
        target = psql(self.primary_dsn, "SELECT pg_current_wal_insert_lsn()")
        while time.monotonic() - started < timeout:
            done = psql(self.replica_dsn, f"SELECT pg_last_wal_replay_lsn() >= '{target}'")
            if done == "t":
                return time.monotonic() - started
            time.sleep(0.05)
        raise BenchError(f"the replica did not catch up within {timeout:.0f} s")

    # ---------------------------------------------------------------------- facts
    def pids(self) -> dict[str, int | None]:
        return {
            "haproxy": self.haproxy.pid,
            "primary": self.primary.pid,
            "replica": self.replica.pid,
            **{f"api{i}": (p.pid if p else None) for i, p in enumerate(self.apis)},
            **{f"worker{i}": (p.pid if p else None) for i, p in enumerate(self.workers)},
        }

    def wait_front(self, timeout: float = 30) -> None:
        """Until HAProxy sees every running API as up (each answers once via the front)."""
        wait_front(self.url, self.haproxy, sum(a is not None for a in self.apis), timeout)


def haproxy_config(front_port: int, api_ports: list[int]) -> str:
    """Round robin over the APIs, checked on /readyz; `timeout tunnel` keeps an upgraded
    WebSocket open for as long as it lives; a request whose connection to a dead API fails
    is redispatched to another one; a slow check answer (a loaded machine) is not a failure."""
    servers = "\n".join(
        f"  server api{i} 127.0.0.1:{port} check" for i, port in enumerate(api_ports)
    )
    return f"""global
  maxconn 4000

defaults
  mode http
  option http-server-close
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h
  timeout http-keep-alive 10s
  # A /readyz answer may take longer than the 300 ms check interval on a loaded machine:
  # without this HAProxy took slow answers as failures and dropped live APIs (503s). A dead
  # API still fails its check at once (connection refused).
  timeout check 2s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response

frontend front
  bind 127.0.0.1:{front_port}
  default_backend apis

backend apis
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 1
  http-response set-header X-Topology-Server %s
{servers}
"""


def wait_front(url: str, haproxy: Process, apis: int, timeout: float) -> None:
    """Until `apis` distinct API servers answered /readyz through the front."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2, trust_env=False) as client:
        while len(seen) < apis:
            haproxy.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"HAProxy reached {sorted(seen)} of {apis} APIs")
            with suppress(httpx.TransportError):
                r = client.get(url + "/readyz")
                if r.status_code == 200:
                    seen.add(r.headers.get("x-topology-server", ""))
                    continue
            time.sleep(0.1)


@contextmanager
def running_topology(
    workdir: Path,
    *,
    apis: int = 2,
    workers: int = 2,
    settings: Mapping[str, str] | None = None,
    worker_settings: Mapping[str, str] | None = None,
    postgres_settings: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Topology]:
    """The whole set, ready when entered (replica streaming, HAProxy reaching every API,
    every worker holding its liveness lock), stopped on the way out. `settings`:
    OMNISTREAM_<NAME> values for every omnistream process (names without the prefix);
    `worker_settings` on top for the workers only. The APIs read through the replica
    (OMNISTREAM_READ_DATABASE_URL); the workers use the primary only. An admin exists:
    Topology.admin_email / admin_password."""
    say = progress or (lambda _step: None)
    workdir.mkdir(parents=True, exist_ok=True)
    pg_settings = POSTGRES_SETTINGS | dict(postgres_settings or {})
    with ExitStack() as stack:
        pgdir, primary, replica = make_servers(stack, workdir, pg_settings, say)
        common = OMNISTREAM_SETTINGS | dict(settings or {})
        base_env = omnistream_env(primary.dsn(), None, workdir, **common)
        say("migrating and creating the admin (omnistream create-admin)")
        admin = spawn(
            omnistream_command("create-admin", "--email", ADMIN_EMAIL, "--name", "Admin"),
            workdir / "create-admin.log",
            env=base_env | {"OMNISTREAM_NEW_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        stack.callback(kill_group, admin)
        say("pg_basebackup and starting the replica")
        start_replica(stack, workdir, primary, replica)
        if admin.wait(timeout=120) != 0:
            raise BenchError(f"create-admin failed:\n{tail(workdir / 'create-admin.log')}")
        front_port, api_ports = free_port(), [free_port() for _ in range(apis)]
        config = workdir / "haproxy.cfg"
        config.write_text(haproxy_config(front_port, api_ports))
        topo = Topology(
            url=f"http://127.0.0.1:{front_port}",
            api_urls=[f"http://127.0.0.1:{p}" for p in api_ports],
            primary_dsn=primary.dsn(),
            replica_dsn=replica.dsn(),
            workdir=workdir,
            pgdir=pgdir,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            primary=primary,
            replica=replica,
            haproxy=Process(
                spawn([HAPROXY, "-db", "-f", str(config)], workdir / "haproxy.log"),
                workdir / "haproxy.log",
                "haproxy",
            ),
            apis=[None] * apis,
            workers=[None] * workers,
            api_env=base_env | {"OMNISTREAM_READ_DATABASE_URL": replica.dsn()},
            worker_env=base_env
            | {f"OMNISTREAM_{k.upper()}": v for k, v in (worker_settings or {}).items()},
        )
        topo.haproxy.url = topo.url
        stack.callback(kill_group, topo.haproxy.proc)
        for i in range(apis):
            stack.callback(topo.kill_api, i)
        for i in range(workers):
            stack.callback(topo.kill_worker, i)
        say(f"starting {apis} API and {workers} worker processes")
        _start_all(topo)
        say("waiting for HAProxy to reach every API")
        topo.wait_front()
        yield topo
        say("stopping")


def _start_all(topo: Topology) -> None:
    """The APIs and workers, started side by side (each start is mostly waiting)."""
    for i in range(len(topo.apis)):
        label = f"api{i}"
        port = topo.api_urls[i].rsplit(":", 1)[1]
        env = topo.api_env | {"OMNISTREAM_PORT": port}
        proc = spawn(omnistream_command("serve"), topo.workdir / f"{label}.log", env=env)
        topo.apis[i] = Process(proc, topo.workdir / f"{label}.log", label, url=topo.api_urls[i])
    for i in range(len(topo.workers)):
        label = f"worker{i}"
        proc = spawn(omnistream_command("worker"), topo.workdir / f"{label}.log",
                      env=topo.worker_env)  # fmt: skip
        topo.workers[i] = Process(proc, topo.workdir / f"{label}.log", label)
    for process in topo.apis:
        assert process is not None
        wait_ready(process.url, process, topo.ready_timeout)
    started = time.monotonic()
    while topo.worker_locks() < len(topo.workers):
        for process in topo.workers:
            assert process is not None
            process.check_alive()
        if time.monotonic() - started > topo.ready_timeout:
            raise BenchError("the workers took no liveness lock")
        time.sleep(0.1)
