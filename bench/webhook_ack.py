"""Benchmark: signed WhatsApp text webhooks acknowledged by one API process (issue 4).

Starts one `omnistream serve` (no worker loops) on a scratch database, creates a WhatsApp
integration and account over the API, then drives `POST /webhooks/meta` with wrk at 64
connections: every request carries a ~1 KB WhatsApp text payload and its correct
X-Hub-Signature-256. Each 200 means the raw call was durably written to webhook_audit.
Prints one JSON object. Target: >= 3,000 acknowledged/s, p99 <= 50 ms.

    .venv/bin/python bench/webhook_ack.py [--duration 15] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import auth_me as common

SECRET = "bench-app-secret-" + "x" * 16
PHONE_NUMBER_ID = "109000000000001"


def payload() -> bytes:
    text = "Halo, saya mau tanya status pesanan saya. " * 12
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "209000000000001",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100001",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Siti"}, "wa_id": "6281234567890"}],
                            "messages": [
                                {
                                    "from": "6281234567890",
                                    "id": "wamid.bench" + secrets.token_hex(8),
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def lua_script(body: bytes, signature: str) -> str:
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Hub-Signature-256"] = "sha256={signature}"\n'
    )


def set_up_integration(base: str, email: str, password: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        r = client.post(
            "/api/v1/integrations",
            headers=headers,
            json={
                "channel": "whatsapp",
                "name": "Bench WhatsApp",
                "credentials": {
                    "access_token": "bench-token",
                    "app_secret": SECRET,
                    "verify_token": "bench-verify",
                    "waba_id": "209000000000001",
                },
            },
        )
        r.raise_for_status()
        r = client.post(
            f"/api/v1/integrations/{r.json()['id']}/accounts",
            headers=headers,
            json={"external_id": PHONE_NUMBER_ID, "display_name": "Bench"},
        )
        r.raise_for_status()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if not wrk:
        raise common.BenchError("wrk is not installed: apt-get install -y wrk")
    server_dsn = args.database_url
    name = f"omnistream_ack_{secrets.token_hex(4)}"
    pg_version = asyncio.run(common.create_database(server_dsn, name))
    dsn = common.with_database(server_dsn, name)
    workdir = Path(tempfile.mkdtemp(prefix="omnistream-ack-"))
    try:
        port = common.free_port()
        base = f"http://127.0.0.1:{port}"
        with common.running_server(dsn, port, workdir) as (proc, log_path):
            common.wait_ready(base, proc, log_path, 60)
            email, password = common.admin_credentials(log_path)
            set_up_integration(base, email, password)
            body = payload()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            script = workdir / "post.lua"
            script.write_text(lua_script(body, signature))
            cmd = [
                wrk,
                "-t2",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--latency",
                "--timeout",
                "5s",
                "-s",
                str(script),
                f"{base}/webhooks/meta",
            ]
            subprocess.run([*cmd[:3], "-d3s", *cmd[4:]], capture_output=True, check=True)  # warm-up
            cpu0 = common._proc_cpu_seconds(proc.pid)
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            cpu = common._proc_cpu_seconds(proc.pid) - cpu0
            result = common.parse_wrk(out)
        stored = asyncio.run(_count(dsn))
    finally:
        asyncio.run(common.drop_database(server_dsn, name))
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "benchmark": "webhook_ack",
        "machine": common.machine_info(pg_version, 0.0),
        "settings": {
            "connections": args.connections,
            "threads": 2,
            "duration_s": args.duration,
            "body_bytes": len(body),
            "server": "1 x omnistream serve, no worker",
        },
        "acknowledged_per_s": result.requests_per_s,
        "p50_ms": result.p50_ms,
        "p90_ms": result.p90_ms,
        "p99_ms": result.p99_ms,
        "requests": result.requests,
        "non_2xx": result.non_2xx,
        "server_cpu_us_per_request": round(cpu / max(1, result.requests) * 1e6, 1),
        "audit_rows_stored": stored,
        "target": {
            "acknowledged_per_s_at_least": 3000,
            "p99_ms_at_most": 50,
            "met": result.requests_per_s >= 3000 and result.p99_ms <= 50 and not result.non_2xx,
        },
    }


async def _count(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval("SELECT count(*) FROM webhook_audit WHERE signature_valid")
        return value
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    print(json.dumps(bench(parser.parse_args()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
