"""The Meta Graph API sandbox as a pytest fixture, for any test that talks to "Meta".

Use it from a test module (the import registers the fixture under the name `sandbox`):

    from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401

    async def test_reply_is_sent(sandbox: Sandbox) -> None:
        wa = await sandbox.register_account("whatsapp", webhook_url=omnistream_webhook_url)
        # point the integration at the sandbox: base_url=sandbox.url,
        # access_token=wa.access_token, app_secret=wa.app_secret, waba_id=wa.waba_id
        await sandbox.send_customer(wa, "16505551234", text="hi")   # signed webhook
        ...
        sends = await sandbox.requests(path="/messages", method="POST")
        assert sends[0]["body"]["text"]["body"] == "Hello!"

Lifetime: one real sandbox (uvicorn on a random 127.0.0.1 port, in a background thread
with its own event loop) is started on first use and shared by the whole test session;
before every test its state is reset (POST /_sandbox/reset), so accounts, faults,
templates, recordings and settings start from FIXTURE_CONFIG each time. Because it runs
in its own thread, it keeps answering while a test's event loop is busy or blocked.

FIXTURE_CONFIG: status webhooks are sent at once and in order (sent, delivered, read;
0 ms delays), failed webhook calls are retried 3 times after 20, 40, 80 ms, no rate limit.
Change them per test with `await sandbox.settings(timing={...}, rate_limit_per_second=5)`.

`Sandbox` (= omnistream.sandbox.client.SandboxClient) API, all async unless noted:
- .url (str) and .graph(version="v21.0") -> "http://127.0.0.1:PORT/v21.0" (not async)
- .register_account(channel="whatsapp", *, external_id=None, access_token=None,
  app_secret=None, webhook_url=None, **options) -> SandboxAccount (ids and secrets random
  unless given; options: waba_id, display_phone_number, name, rate_limit_per_second,
  timing, enforce_window, window_seconds, echoes). SandboxAccount has .channel,
  .external_id, .access_token, .app_secret, .waba_id, .display_phone_number, .headers
  (the bearer header for Graph calls).
- .accounts(), .remove_account(external_id)
- .send_customer(account, sender, type="text", **fields) -> {"message_id", "payload",
  "deliveries", "delivered", "media_id"?}: the customer's message as Meta's signed webhook
  (fields: text, caption, media_base64, filename, mime_type, reply_to, target, emoji,
  interactive_type, reply_id, reply_title, flow_response, payload, latitude, longitude,
  contacts, name, message_id, timestamp, deliveries, wait).
- .add_fault(kind, **fields) -> fault; .faults(); .clear_faults()
  kind: error | failed_status | http_500 | slow; matchers: account, recipient, token,
  path_contains; effect: code, http_status, delay_ms, details; times (None = until cleared).
- .add_template(name, **fields), .templates(waba_id=None)
- .settings(**patch): read or change timing, instant, rate_limit_per_second, webhook_url,
  webhook_retries, webhook_retry_ms, webhook_timeout_s, public_url.
- .requests(path=None, since=0, method=None, account=None): recorded Graph requests
  (method, path, query, headers, body, account, status, error_code, message_id, index).
- .sends(account=None, duplicates=False): send attempts per client-side message.
- .messages(account=None, to=None): accepted sends and the statuses reported for them.
- .rate(account=None): per-second histogram (with account: that account's entry).
- .webhooks(kind=None, since=0, account=None); .wait_webhooks(count, kind=None,
  account=None, within=5.0): poll until `count` delivered webhooks exist.
- .settle(within=10.0): wait until no status webhook is pending.
- .reset()

For a sandbox with another configuration: `with running_sandbox(SandboxConfig(...)) as url:`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from omnistream.sandbox import SandboxConfig, StatusTiming, create_sandbox
from omnistream.sandbox.client import SandboxAccount, SandboxClient

__all__ = [
    "FIXTURE_CONFIG",
    "Sandbox",
    "SandboxAccount",
    "running_sandbox",
    "sandbox_fixture",
]

Sandbox = SandboxClient

FIXTURE_CONFIG = SandboxConfig(
    timing=StatusTiming(sent_ms=0, delivered_ms=0, read_ms=0),
    webhook_retries=3,
    webhook_retry_ms=20,
    webhook_timeout_s=5.0,
)


class _ThreadedServer:
    """uvicorn in a daemon thread with its own event loop."""

    def __init__(self, config: SandboxConfig) -> None:
        app = create_sandbox(config)
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="sandbox", daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[str]:
    """A sandbox of its own for the duration of the block; yields its URL."""
    server = _ThreadedServer(config or FIXTURE_CONFIG)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


_shared: dict[str, str] = {}


def _shared_url(request: pytest.FixtureRequest) -> str:
    if "url" not in _shared:
        server = _ThreadedServer(FIXTURE_CONFIG)
        _shared["url"] = server.start()

        def stop() -> None:
            server.stop()
            _shared.clear()

        request.session.addfinalizer(stop)
    return _shared["url"]


@pytest.fixture(name="sandbox")
async def sandbox_fixture(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    client = Sandbox(_shared_url(request))
    await client.reset()
    try:
        yield client
    finally:
        await client.aclose()
