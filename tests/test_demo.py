"""`serve --demo` (make run): the sandbox process answers before the demo integrations are
made, and their first template sync succeeds at once."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from omnistream import demo
from omnistream.context import AppContext
from omnistream.templates.worker import sync_tick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_demo_setup_syncs_templates_at_once(ctx: AppContext) -> None:
    with demo.sandbox_process(free_port(), "http://127.0.0.1:9/webhooks/meta") as url:
        # Listening when the context is entered: no retry loop needed by the caller.
        async with httpx.AsyncClient(trust_env=False, timeout=1) as client:
            health = await client.get(f"{url}/_sandbox/health")
        assert health.status_code == 200 and health.json()["accounts"] == 3

        assert await demo.ensure_integrations(ctx.pool, ctx.box, url) is True
        assert await demo.ensure_integrations(ctx.pool, ctx.box, url) is False  # once only
        async with ctx.pool.acquire() as conn:
            made = await conn.fetch(
                "SELECT i.channel, i.is_active, a.external_id FROM integrations i "
                "JOIN integration_accounts a ON a.integration_id = i.id ORDER BY i.channel"
            )
        assert [(r["channel"], r["is_active"], r["external_id"]) for r in made] == [
            ("instagram", True, "400000000000001"),
            ("messenger", True, "300000000000001"),
            ("whatsapp", True, "100000000000001"),
        ]

        settings = ctx.settings.model_copy(update={"allow_private_urls": True})  # as serve does
        assert await sync_tick(ctx.pool, settings, ctx.box) == 1  # the WhatsApp integration
        async with ctx.pool.acquire() as conn:
            sync = await conn.fetchrow("SELECT succeeded_at, error FROM wa_template_syncs")
            names = await conn.fetch("SELECT name FROM wa_templates ORDER BY name")
        assert sync is not None and sync["error"] is None and sync["succeeded_at"] is not None
        assert "hello_world" in {r["name"] for r in names}


def test_a_sandbox_that_cannot_start_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Something else holds the port and answers no health check: the sandbox exits.
        with (
            pytest.raises(
                SystemExit, match=r"demo sandbox could not listen .*OMNISTREAM_SANDBOX_PORT"
            ),
            demo.sandbox_process(port, "http://127.0.0.1:9/webhooks/meta"),
        ):
            pass


def test_sandbox_is_stopped_on_exit_and_keeps_its_info_lines_to_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with demo.sandbox_process(free_port(), "http://127.0.0.1:9/webhooks/meta") as url:
        pass
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/_sandbox/health", timeout=1, trust_env=False)
    # "Uvicorn running on ..." of the sandbox would read as OmniStream's own server.
    assert not [r for r in caplog.records if r.threadName == demo.SANDBOX_THREAD]
    # The filter is gone again: uvicorn.error's lines get through (read by a handler of its
    # own, whatever level or propagation earlier tests left on the logger).
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler(logging.INFO)
    catcher.emit = seen.append  # type: ignore[method-assign]
    uvicorn_error = logging.getLogger("uvicorn.error")
    level = uvicorn_error.level
    uvicorn_error.addHandler(catcher)
    uvicorn_error.setLevel(logging.INFO)
    try:
        uvicorn_error.info("still logged")
    finally:
        uvicorn_error.removeHandler(catcher)
        uvicorn_error.setLevel(level)
    assert [r.getMessage() for r in seen] == ["still logged"]
    quiet = demo._QuietSandboxThread
    assert not [
        f
        for name in demo.QUIETED_LOGGERS
        for f in logging.getLogger(name).filters
        if isinstance(f, quiet)
    ]
