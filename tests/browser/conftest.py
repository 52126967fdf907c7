"""Browser tests: the real web app in Debian's headless Chromium (Playwright), against a
real `omnistream serve --with-worker`, a real PostgreSQL and the Graph API sandbox.

One stack for all browser tests: a scratch database on the test server (tests/testdb.py), then
`omnistream create-admin`, `omnistream sandbox` and `omnistream serve --with-worker` as
subprocesses on free loopback ports, and a WhatsApp integration pointed at the sandbox.
Before each test the conversations are emptied (TRUNCATE contacts CASCADE) and the sandbox
is reset; agents and divisions get unique names, so tests never see each other's data.
Screenshots and the server's log go to test-artifacts/browser/.

Chromium missing is an error, never a skip: `apt-get install chromium` (.ci/run does it).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.processes import CLI, create_admin, free_port, omnistream_env, stop, wait_http
from tests.testdb import with_database

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "admin@example.com"
# The sandbox's WhatsApp account (in its configuration, so it survives every reset).
WA_ACCOUNT = "109000000000077"
WA_TOKEN = "browser-test-token"
WA_SECRET = "browser-test-app-secret"
WA_WABA = "209000000000077"
LOGIN_MAX_FAILURES = 3
ADMIN_TOKEN_TTL = 6 * 3600
expect.set_options(timeout=5_000)


@dataclass
class Stack:
    url: str
    sandbox_url: str
    dsn: str
    http: httpx.AsyncClient = field(repr=False)
    admin_headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    return CHROMIUM


def _start_stack(dsn: str, data: Path) -> tuple[Stack, list[subprocess.Popen[bytes]]]:
    port, sandbox_port = free_port(), free_port()
    url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    # The admin signs in once for the whole package (stack.admin_headers): its access token
    # must outlive the package, which takes longer than the default 15 minutes on a busy
    # machine or beside a second pytest-xdist worker (no browser test depends on the TTL).
    env = omnistream_env(
        dsn,
        data,
        "browser-tests-",
        login_max_failures=str(LOGIN_MAX_FAILURES),
        access_token_ttl_seconds=str(ADMIN_TOKEN_TTL),
    )

    create_admin(env, ADMIN_EMAIL, "Ada Admin", PASSWORD)
    config = data / "sandbox.json"
    config.write_text(
        json.dumps(
            {
                "webhook_url": f"{url}/webhooks/meta",
                # Spaced out so a test can watch the tick turn delivered, then read.
                "timing": {"enabled": True, "sent_ms": 0, "delivered_ms": 400, "read_ms": 900},
                "webhook_retries": 3,
                "webhook_retry_ms": 50,
                "accounts": [
                    {
                        "channel": "whatsapp",
                        "external_id": WA_ACCOUNT,
                        "waba_id": WA_WABA,
                        "access_token": WA_TOKEN,
                        "app_secret": WA_SECRET,
                        "name": "Toko Test",
                    }
                ],
            }
        )
    )
    server_log, sandbox_log = ARTIFACTS / "server.log", ARTIFACTS / "sandbox.log"
    procs = []
    with sandbox_log.open("wb") as out:
        procs.append(
            subprocess.Popen(
                [
                    *CLI,
                    "sandbox",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(sandbox_port),
                    "--config",
                    str(config),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    with server_log.open("wb") as out:
        procs.append(
            subprocess.Popen(
                [*CLI, "serve", "--with-worker", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        wait_http(f"{sandbox_url}/_sandbox/health", procs[0], sandbox_log)
        wait_http(f"{url}/readyz", procs[1], server_log)
    except BaseException:
        for proc in procs:
            stop(proc)
        raise
    return Stack(url, sandbox_url, dsn, http=None), procs  # type: ignore[arg-type]


async def _login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# Package scope: the stack stops when the browser tests are done, not at the end of the
# whole run (its worker would otherwise keep polling beside the other tests).
@pytest.fixture(scope="package")
async def stack(
    chromium: str, admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = f"omnistream_browser_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    started, procs = await asyncio.to_thread(
        _start_stack, with_database(admin_dsn, name), tmp_path_factory.mktemp("browser-data")
    )
    try:
        async with httpx.AsyncClient(base_url=started.url, timeout=20, trust_env=False) as http:
            started.http = http
            started.admin_headers = await _login(http, ADMIN_EMAIL)
            await _whatsapp_integration(started)
            yield started
    finally:
        for proc in reversed(procs):
            await asyncio.to_thread(stop, proc)
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def _whatsapp_integration(stack: Stack) -> None:
    r = await stack.http.post(
        "/api/v1/integrations",
        headers=stack.admin_headers,
        json={
            "channel": "whatsapp",
            "name": "Toko Test WhatsApp",
            "credentials": {
                "access_token": WA_TOKEN,
                "app_secret": WA_SECRET,
                "verify_token": "browser-verify",
                "waba_id": WA_WABA,
                "base_url": stack.sandbox_url,
            },
        },
    )
    assert r.status_code == 201, r.text
    r = await stack.http.post(
        f"/api/v1/integrations/{r.json()['id']}/accounts",
        headers=stack.admin_headers,
        json={"external_id": WA_ACCOUNT, "display_name": "Toko Test"},
    )
    assert r.status_code == 201, r.text


@dataclass
class Person:
    id: str
    email: str
    name: str
    role: str
    password: str = PASSWORD
    headers: dict[str, str] = field(default_factory=dict)


class World:
    """Makes what a test needs through the real API and the sandbox."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = stack.http
        self.admin = Person("", ADMIN_EMAIL, "Ada Admin", "admin", headers=stack.admin_headers)

    async def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        r = await self.http.request(method, path, headers=headers or self.admin.headers, **kwargs)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def division(self, name: str) -> str:
        body = await self.call(
            "POST", "/api/v1/divisions", json={"name": f"{name} {secrets.token_hex(2)}"}
        )
        return str(body["id"])

    async def agent(
        self, role: str = "agent", name: str | None = None, divisions: list[str] | None = None
    ) -> Person:
        tag = secrets.token_hex(3)
        name = name or f"{role.title()} {tag}"
        body = await self.call(
            "POST",
            "/api/v1/agents",
            json={
                "email": f"{role}-{tag}@example.com",
                "name": name,
                "role": role,
                "password": PASSWORD,
            },
        )
        for division in divisions or []:
            await self.call("PUT", f"/api/v1/divisions/{division}/members/{body['id']}")
        person = Person(str(body["id"]), body["email"], name, role)
        person.headers = await _login(self.http, person.email)
        return person

    async def customer(
        self, sender: str, text: str, name: str = "Customer", **extra: Any
    ) -> dict[str, Any]:
        """A customer writes in through the sandbox (a signed webhook, like Meta's)."""
        async with httpx.AsyncClient(
            base_url=self.stack.sandbox_url, timeout=20, trust_env=False
        ) as sb:
            r = await sb.post(
                "/_sandbox/customers/send",
                json={
                    "account": WA_ACCOUNT,
                    "from": sender,
                    "name": name,
                    "type": "text",
                    "text": text,
                    **extra,
                },
            )
        assert r.status_code == 200 and r.json()["delivered"], r.text
        return dict(r.json())

    async def conversation_of(self, sender: str, within: float = 10) -> dict[str, Any]:
        """The conversation of this customer once the worker has stored it."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            page = await self.call("GET", "/api/v1/conversations", params={"q": sender})
            if page["items"]:
                return dict(page["items"][0])
            await asyncio.sleep(0.1)
        raise AssertionError(f"no conversation for {sender}")

    async def sandbox(self, endpoint: str, **params: Any) -> Any:
        """GET /_sandbox{endpoint} (recordings: /requests, /webhooks, /messages…)."""
        async with httpx.AsyncClient(
            base_url=self.stack.sandbox_url, timeout=20, trust_env=False
        ) as sb:
            r = await sb.get(f"/_sandbox{endpoint}", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def sandbox_post(self, endpoint: str, body: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(
            base_url=self.stack.sandbox_url, timeout=20, trust_env=False
        ) as sb:
            r = await sb.post(f"/_sandbox{endpoint}", json=body)
        assert r.status_code < 400, r.text
        return r.json()

    async def sends(self) -> list[dict[str, Any]]:
        """Message sends the sandbox received (POST …/messages, not read receipts)."""
        recorded = (await self.sandbox("/requests", path="/messages", method="POST"))["requests"]
        return [r for r in recorded if r["body"].get("status") != "read"]


@pytest.fixture
async def world(stack: Stack) -> World:
    conn = await asyncpg.connect(stack.dsn)
    try:
        for attempt in range(10):
            # The stack's worker keeps working meanwhile; TRUNCATE's locks on the tables
            # behind contacts can meet one of its transactions: PostgreSQL then picks one to
            # fail, and it is retried.
            try:
                await conn.execute("TRUNCATE contacts CASCADE")
                break
            except asyncpg.DeadlockDetectedError:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=20, trust_env=False) as sb:
        assert (await sb.post("/_sandbox/reset")).status_code == 200
    return World(stack)


@pytest.fixture(scope="package")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        await launched.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def open_page(
    browser: Browser, stack: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[OpenPage]:
    """open_page(person) -> a signed-in page on the inbox, live events connected.
    open_page(None) -> the sign-in page. Errors thrown in a page fail the test; a failed
    test leaves a screenshot of each of its pages in test-artifacts/browser/failed/."""
    contexts = []
    errors: list[str] = []

    async def opener(
        person: Person | None,
        *,
        width: int = 1280,
        lang: str = "en",
        init_script: str = "",
        timezone: str = "Asia/Jakarta",
    ) -> Page:
        context = await browser.new_context(
            viewport={"width": width, "height": 800}, locale="en-US", timezone_id=timezone
        )
        contexts.append(context)
        await context.add_init_script(
            f"localStorage.getItem('omnistream.lang') || localStorage.setItem('omnistream.lang', '{lang}')"
        )
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(stack.url)
        if person is not None:
            await sign_in(page, person.email, person.password)
            await expect(page.locator(".live-status[data-status=live]")).to_be_visible()
        return page

    yield opener
    if request.node.stash.get(_FAILED, False):
        folder = ARTIFACTS / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                await page.screenshot(path=str(folder / f"{request.node.name}-{n}-{m}.png"))
    for context in contexts:
        await context.close()
    assert errors == [], f"errors in the page: {errors}"


# The sign-in form's words (login.* in strings.js) in each language of the app.
SIGN_IN_WORDS = {
    "en": ("Email", "Password", "Sign in"),
    "id": ("Email", "Kata sandi", "Masuk"),
}


async def sign_in(page: Page, email: str, password: str) -> None:
    """Fill and send the sign-in form, in whichever language the page is shown."""
    await expect(page.locator("form.login-form")).to_be_visible()
    lang = await page.evaluate("document.documentElement.lang")
    email_label, password_label, button = SIGN_IN_WORDS[lang]
    await page.get_by_label(email_label).fill(email)
    await page.get_by_label(password_label).fill(password)
    await page.get_by_role("button", name=button).click()


async def shot(page: Page, name: str) -> None:
    """A screenshot under test-artifacts/browser/ (written on every run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
