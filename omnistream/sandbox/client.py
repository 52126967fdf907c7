"""A small typed client of the control API (tests, benchmarks, `omnistream sandbox customer`)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

GRAPH_VERSION = "v21.0"


class SandboxError(Exception):
    """The control API refused a call."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.body = response.text
        super().__init__(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )


@dataclass(frozen=True)
class SandboxAccount:
    channel: str
    external_id: str
    access_token: str
    app_secret: str
    waba_id: str | None = None
    display_phone_number: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for Graph calls as this account."""
        return {"Authorization": f"Bearer {self.access_token}"}


class SandboxClient:
    def __init__(self, url: str, http: httpx.AsyncClient | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self._http = http or httpx.AsyncClient(base_url=self.url, timeout=timeout, trust_env=False)

    def graph(self, version: str = GRAPH_VERSION) -> str:
        """The Graph base URL with a version, e.g. http://127.0.0.1:8787/v21.0."""
        return f"{self.url}/{version}"

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, f"{self.url}/_sandbox{path}", **kwargs)
        if response.status_code >= 400:
            raise SandboxError(response)
        return response.json() if response.content else None

    # Accounts and templates ----------------------------------------------------------------

    async def register_account(
        self,
        channel: str = "whatsapp",
        *,
        external_id: str | None = None,
        access_token: str | None = None,
        app_secret: str | None = None,
        webhook_url: str | None = None,
        **options: Any,
    ) -> SandboxAccount:
        """Register an account; ids and secrets default to fresh random ones. `options`:
        waba_id, display_phone_number, name, rate_limit_per_second, timing, enforce_window,
        window_seconds, echoes."""
        body = {
            "channel": channel,
            "external_id": external_id or str(10**14 + secrets.randbelow(9 * 10**14)),
            "access_token": access_token or f"EAAG{secrets.token_urlsafe(24)}",
            "app_secret": app_secret or secrets.token_hex(16),
            "webhook_url": webhook_url,
            **options,
        }
        data = await self._call("POST", "/accounts", json=body)
        return SandboxAccount(
            channel=data["channel"],
            external_id=data["external_id"],
            access_token=data["access_token"],
            app_secret=data["app_secret"],
            waba_id=data.get("waba_id"),
            display_phone_number=data.get("display_phone_number"),
            raw=data,
        )

    async def accounts(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self._call("GET", "/accounts"))["accounts"]
        return data

    async def remove_account(self, external_id: str) -> None:
        await self._call("DELETE", f"/accounts/{external_id}")

    async def add_template(self, name: str, **fields: Any) -> dict[str, Any]:
        """language, category, status, parameter_format, components, waba_id, notify."""
        data: dict[str, Any] = await self._call("POST", "/templates", json={"name": name, **fields})
        return data

    async def templates(self, waba_id: str | None = None) -> list[dict[str, Any]]:
        params = {"waba_id": waba_id} if waba_id else None
        data: list[dict[str, Any]] = (await self._call("GET", "/templates", params=params))[
            "templates"
        ]
        return data

    # Customers, faults, settings -----------------------------------------------------------

    async def send_customer(
        self, account: str | SandboxAccount, sender: str, type: str = "text", **fields: Any
    ) -> dict[str, Any]:
        """A customer message as a signed webhook; fields as in CustomerMessage (text,
        caption, media_base64, reply_to, target, emoji, reply_id, payload, name, wait...)."""
        external_id = account.external_id if isinstance(account, SandboxAccount) else account
        body = {"account": external_id, "from": sender, "type": type, **fields}
        data: dict[str, Any] = await self._call("POST", "/customers/send", json=body)
        return data

    async def add_fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        """kind: error | failed_status | http_500 | slow; matchers: account, recipient,
        recipient_prefix, recipients, fraction, message_type, token, path_contains; effect:
        code, http_status, delay_ms, details; times, every, probability, seed."""
        data: dict[str, Any] = await self._call("POST", "/faults", json={"kind": kind, **fields})
        return data

    async def faults(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self._call("GET", "/faults"))["faults"]
        return data

    async def clear_faults(self) -> int:
        cleared: int = (await self._call("DELETE", "/faults"))["cleared"]
        return cleared

    async def settings(self, **patch: Any) -> dict[str, Any]:
        """Read the runtime settings, or change some (timing, instant, rate_limit_per_second,
        webhook_url, webhook_retries, webhook_retry_ms, webhook_timeout_s, public_url)."""
        data: dict[str, Any] = await (
            self._call("PATCH", "/settings", json=patch)
            if patch
            else self._call("GET", "/settings")
        )
        return data

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    # Recordings ----------------------------------------------------------------------------

    async def requests(
        self,
        path: str | None = None,
        since: int = 0,
        method: str | None = None,
        account: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {"since": since, "path": path, "method": method, "account": account}
        query = {k: v for k, v in params.items() if v is not None}
        data: list[dict[str, Any]] = (await self._call("GET", "/requests", params=query))[
            "requests"
        ]
        return data

    async def sends(
        self, account: str | None = None, duplicates: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"duplicates": duplicates}
        if account:
            params["account"] = account
        data: list[dict[str, Any]] = (await self._call("GET", "/sends", params=params))["sends"]
        return data

    async def rate(self, account: str | None = None) -> dict[str, Any]:
        """The histogram; with `account`, only that account's entry ({} if it has none)."""
        data: dict[str, Any] = await self._call(
            "GET", "/rate", params={"account": account} if account else None
        )
        if account:
            entry: dict[str, Any] = data["accounts"].get(account, {})
            return entry
        return data

    async def recipients(
        self,
        account: str | None = None,
        to: str | None = None,
        min_accepted: int = 0,
        limit: int = 1000,
    ) -> dict[str, Any]:
        """Send counts per recipient: {"recipients": [{account, to, attempts, accepted,
        templates}], "total_recipients", "total_accepted", "duplicates", "never_accepted",
        "max_accepted"}."""
        params: dict[str, Any] = {"min_accepted": min_accepted, "limit": limit}
        params.update({k: v for k, v in (("account", account), ("to", to)) if v})
        data: dict[str, Any] = await self._call("GET", "/recipients", params=params)
        return data

    async def messages(
        self, account: str | None = None, to: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("account", account), ("to", to)) if v}
        data: list[dict[str, Any]] = (await self._call("GET", "/messages", params=params))[
            "messages"
        ]
        return data

    async def webhooks(
        self, kind: str | None = None, since: int = 0, account: str | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": since}
        params.update({k: v for k, v in (("kind", kind), ("account", account)) if v})
        data: list[dict[str, Any]] = (await self._call("GET", "/webhooks", params=params))[
            "webhooks"
        ]
        return data

    async def wait_webhooks(
        self,
        count: int,
        kind: str | None = None,
        account: str | None = None,
        within: float = 5.0,
        delivered: bool = True,
    ) -> list[dict[str, Any]]:
        """Poll until `count` webhooks (of `kind`, finished when `delivered`) exist."""
        deadline = time.monotonic() + within
        while True:
            found = await self.webhooks(kind, account=account)
            if delivered:
                found = [w for w in found if w["delivered"]]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)

    async def settle(self, within: float = 10.0) -> bool:
        """Wait until no status webhook is scheduled or in flight."""
        idle: bool = (await self._call("GET", "/idle", params={"timeout": within}))["idle"]
        return idle

    async def aclose(self) -> None:
        await self._http.aclose()
