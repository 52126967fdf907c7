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
import sys
import time
from typing import Any

import harness
import httpx

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
    harness.wrk_path()  # fail before anything starts
    with harness.api_on_scratch(args.database_url, "omnistream_ack") as api:
        email, password = harness.admin_credentials(api.server.log_path)
        set_up_integration(api.base, email, password)
        reference = harness.hello_reference(
            api.base, args.reference_duration, server_pid=api.server.pid
        )
        body = payload()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        script = api.workdir / "post.lua"
        headers = {"Content-Type": "application/json"}
        headers["X-Hub-Signature-256"] = f"sha256={signature}"
        script.write_text(harness.lua_post(body, headers))
        wrk = {"connections": args.connections, "threads": 2, "script": script}
        url = f"{api.base}/webhooks/meta"
        harness.run_wrk(url, seconds=3, **wrk)  # warm-up
        result = harness.run_wrk(url, seconds=args.duration, server_pid=api.server.pid, **wrk)
        stored = asyncio.run(_count(api.db.dsn))  # every 200 was a committed row
        postgres = api.db.postgres_version
    return {
        "benchmark": "webhook_ack",
        "machine": harness.machine_facts(postgres),
        "reference": reference,
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
        "server_cpu_us_per_request": result.server_cpu_us_per_request,
        "audit_rows_stored": stored,
        "target": {
            "acknowledged_per_s_at_least": 3000,
            "p99_ms_at_most": 50,
            "met": result.requests_per_s >= 3000 and result.p99_ms <= 50 and not result.non_2xx,
        },
    }


async def _count(dsn: str) -> int:
    conn = await harness.connect(dsn)
    try:
        value: int = await conn.fetchval("SELECT count(*) FROM webhook_audit WHERE signature_valid")
        return value
    finally:
        await conn.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.wrk_options(), harness.server_options())
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
