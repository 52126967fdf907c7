"""The verification snippets of docs/webhooks.md work: the Python one (standard library only)
and the Node one (built-in crypto only) are taken from the page as written and run against
requests signed by OmniStream's own signing code. They accept a genuine request, also one
signed during a secret rotation, and refuse a wrong secret, a changed body or id, a
timestamp more than 5 minutes off and a request without its headers."""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from omnistream.webhooks.signing import new_secret, signature_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
STDLIB_ONLY = {"base64", "hashlib", "hmac", "json", "time"}

# A body as the worker sends it: compact JSON, with text that is not ASCII.
BODY = json.dumps(
    {
        "id": "5b0c8f0e-7a53-4c1e-9d7e-2f4f0c7b47a5",
        "seq": 18341,
        "type": "message.created",
        "occurred_at": "2025-11-28T09:15:02.481023Z",
        "actor": {"type": "contact", "id": "c2a9e0d4-51f7-4f0b-9b8e-7d3f1a6c5e22", "name": "Budi"},
        "data": {"message": {"text": "Halo, pesanan saya belum sampai 📦 — terima kasih"}},
        "version": 1,
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode()
WEBHOOK_ID = "5b0c8f0e-7a53-4c1e-9d7e-2f4f0c7b47a5"


def block(*languages: str) -> str:
    """The one fenced block of docs/webhooks.md in one of `languages`."""
    pattern = rf"^```(?:{'|'.join(languages)})\n(.*?)^```$"
    found = re.findall(pattern, DOC.read_text(), flags=re.S | re.M)
    assert len(found) == 1, f"docs/webhooks.md: expected one ```{languages[0]} block"
    return found[0]


def signed(
    secrets: list[str], *, body: bytes = BODY, webhook_id: str = WEBHOOK_ID, age: int = 0
) -> dict[str, Any]:
    """A request as OmniStream sends it, signed `age` seconds ago."""
    timestamp = int(time.time()) - age
    return {
        "headers": {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, webhook_id, timestamp, body),
        },
        "body": body,
    }


def cases() -> dict[str, tuple[str, dict[str, Any], bool]]:
    """name -> (the receiver's secret, the request, whether it must be accepted)."""
    secret, other, newer = new_secret(), new_secret(), new_secret()
    genuine = signed([secret])
    tampered_body = {**genuine, "body": BODY.replace(b"sampai", b"sampau")}
    swapped_id = {**genuine, "headers": {**genuine["headers"], "webhook-id": "msg_other"}}
    unsigned = {**genuine, "headers": {"webhook-id": WEBHOOK_ID}}
    rotating = signed([newer, secret])  # after a rotation: the new secret first, then the old
    return {
        "genuine": (secret, genuine, True),
        "genuine, 4 minutes old": (secret, signed([secret], age=240), True),
        "rotation, receiver has the old secret": (secret, rotating, True),
        "rotation, receiver has the new secret": (newer, rotating, True),
        "wrong secret": (other, genuine, False),
        "tampered body": (secret, tampered_body, False),
        "another webhook-id": (secret, swapped_id, False),
        "6 minutes old": (secret, signed([secret], age=360), False),
        "6 minutes ahead": (secret, signed([secret], age=-360), False),
        "missing headers": (secret, unsigned, False),
        "signature of another secret only": (secret, signed([other]), False),
    }


def test_the_signatures_are_standard_webhooks() -> None:
    """The snippets are checked against our signing code; that code is checked here against
    the reference implementation, so the page describes the standard, not just ourselves."""
    from standardwebhooks import Webhook

    secret = new_secret()
    request = signed([secret])
    assert Webhook(secret).verify(request["body"], request["headers"])["seq"] == 18341


def test_the_python_snippet_verifies_our_signatures() -> None:
    code = block("python")
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imported <= STDLIB_ONLY, f"the Python snippet imports {imported - STDLIB_ONLY}"
    assert "compare_digest" in code and "TOLERANCE_SECONDS = 5 * 60" in code
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the snippet as documented
    verify, invalid = namespace["verify"], namespace["InvalidWebhook"]
    outcomes = {}
    for name, (secret, request, _) in cases().items():
        try:
            event = verify(secret, request["headers"], request["body"])
        except invalid:
            outcomes[name] = False
        else:
            assert event == json.loads(BODY), name
            outcomes[name] = True
    assert outcomes == {name: ok for name, (_, _, ok) in cases().items()}


# Runs the snippet once per case given on stdin; prints {case: true | false} (false: thrown).
NODE_HARNESS = """
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const outcomes = {};
for (const [name, c] of Object.entries(cases)) {
  const headers = Object.fromEntries(
    Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v]));
  try {
    const event = verify(c.secret, headers, Buffer.from(c.body, "base64"));
    outcomes[name] = event.id === c.expected_id && event.data.message.text === c.expected_text;
  } catch (error) {
    outcomes[name] = false;
  }
}
console.log(JSON.stringify(outcomes));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_node_snippet_verifies_our_signatures(tmp_path: Path) -> None:
    code = block("js", "javascript")
    required = set(re.findall(r"require\(\s*[\"']([^\"']+)[\"']\s*\)", code))
    assert required <= {"node:crypto", "crypto"}, f"the Node snippet requires {required}"
    assert "timingSafeEqual" in code and "TOLERANCE_SECONDS = 5 * 60" in code
    script = tmp_path / "verify.js"
    script.write_text(code + NODE_HARNESS)
    payload = {
        name: {
            "secret": secret,
            "headers": request["headers"],
            "body": base64.b64encode(request["body"]).decode(),
            "expected_id": WEBHOOK_ID,
            "expected_text": json.loads(BODY)["data"]["message"]["text"],
        }
        for name, (secret, request, _) in cases().items()
    }
    run = subprocess.run(
        [str(shutil.which("node")), str(script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {name: ok for name, (_, _, ok) in cases().items()}
