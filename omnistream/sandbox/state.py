"""Everything the sandbox remembers, in memory: accounts, media, faults, recordings."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import httpx

from omnistream.sandbox.config import AccountConfig, SandboxConfig, StatusTiming, TemplateConfig
from omnistream.sandbox.counters import Counters, RecipientCounts
from omnistream.sandbox.errors import GraphError
from omnistream.sandbox.ids import numeric_id, short_token
from omnistream.sandbox.templates import default_templates

FaultKind = Literal["error", "failed_status", "http_500", "slow"]
WEBHOOKS_IN_FLIGHT = 16


@dataclass
class Media:
    id: str
    owner: str  # the account's external_id
    data: bytes
    mime_type: str
    sha256: str
    filename: str | None = None
    created: float = field(default_factory=time.time)


@dataclass
class Outbound:
    """A send the sandbox accepted, and the statuses it reported for it."""

    id: str
    account: str
    channel: str
    to: str
    type: str
    body: dict[str, Any]
    opaque: str | None = None
    category: str = "service"  # pricing category (template category, else service)
    created: float = field(default_factory=time.time)
    statuses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fault:
    id: str
    kind: FaultKind
    account: str | None = None
    recipient: str | None = None
    recipient_prefix: str | None = None
    recipients: frozenset[str] | None = None  # a set: O(1) per send however many
    fraction: float | None = None  # of recipients, picked by a hash of the number
    message_type: str | None = None  # the send's `type`, e.g. template
    token: str | None = None
    path_contains: str | None = None
    code: int | None = None
    http_status: int | None = None
    delay_ms: int = 0
    details: str | None = None
    times: int | None = None  # remaining matches; None: until cleared
    every: int | None = None  # strike the Nth, 2Nth, ... matching request
    probability: float | None = None  # strike each matching request with this chance
    seed: int | None = None  # makes `probability` reproducible
    seen: int = 0  # matching requests, struck or not
    hits: int = 0
    _rng: random.Random = field(
        default_factory=random.Random, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._rng.seed(self.seed)

    def matches(
        self,
        account: str | None,
        recipient: str | None,
        token: str,
        path: str,
        message_type: str | None = None,
    ) -> bool:
        if self.by_recipient and recipient is None:
            return False
        if self.message_type is not None and self.message_type != message_type:
            return False
        return (
            (self.account is None or self.account == account)
            and (self.recipient is None or self.recipient == recipient)
            and (self.recipient_prefix is None or str(recipient).startswith(self.recipient_prefix))
            and (self.recipients is None or recipient in self.recipients)
            and (self.fraction is None or self._picked(str(recipient)))
            and (self.token is None or self.token == token)
            and (self.path_contains is None or self.path_contains in path)
        )

    @property
    def by_recipient(self) -> bool:
        return not (
            self.recipient is None
            and self.recipient_prefix is None
            and self.recipients is None
            and self.fraction is None
        )

    def _picked(self, recipient: str) -> bool:
        """The same recipients every run and every retry (a stable hash, not hash()); the
        salt defaults to the code, so rules for different codes pick independent sets."""
        salt = self.seed if self.seed is not None else (self.code or self.kind)
        digest = hashlib.blake2b(f"{salt}:{recipient}".encode(), digest_size=8).digest()
        return int.from_bytes(digest) < (self.fraction or 0.0) * 2**64

    def strikes(self) -> bool:
        """Count a matching request; True when the rate selectors pick it."""
        self.seen += 1
        if self.every is not None and self.seen % self.every:
            return False
        return self.probability is None or self._rng.random() < self.probability

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_rng"}
        if self.recipients is not None:
            out["recipients"] = sorted(self.recipients)
        return out


@dataclass
class SendCount:
    key: str
    kind: str  # opaque | metadata | content
    account: str
    to: str
    attempts: int = 0
    accepted: int = 0
    message_ids: list[str] = field(default_factory=list)


def send_key(channel: str, account: str, to: str, body: dict[str, Any]) -> tuple[str, str]:
    """What identifies one client-side message across retries (see docs/sandbox.md)."""
    if channel == "whatsapp":
        opaque = body.get("biz_opaque_callback_data")
        if isinstance(opaque, str) and opaque:
            return f"opaque:{account}:{opaque}", "opaque"
        content = {k: v for k, v in body.items() if k not in ("messaging_product", "to")}
    else:
        message = body.get("message")
        meta = message.get("metadata") if isinstance(message, dict) else None
        if isinstance(meta, str) and meta:
            return f"metadata:{account}:{meta}", "metadata"
        content = {"message": message}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode())
    return f"content:{account}:{to}:{digest.hexdigest()[:16]}", "content"


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.tasks: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None
        self._posting: asyncio.Semaphore | None = None
        self.url_key = secrets.token_bytes(32)  # signs media download URLs
        self.reset()

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks = set()
        self.settings = self.config.model_copy(deep=True)
        self.accounts: dict[str, AccountConfig] = {a.external_id: a for a in self.config.accounts}
        self.templates: list[TemplateConfig] = []
        self.template_seq = int(numeric_id(15))  # ids grow: paging order is creation order
        for t in (
            self.config.templates if self.config.templates is not None else default_templates()
        ):
            self.put_template(t)
        self.media: dict[str, Media] = {}
        self.faults: list[Fault] = []
        limit = self.config.record_limit
        self.requests: deque[dict[str, Any]] = deque(maxlen=limit)
        self.request_seq = 0
        self.webhooks: deque[dict[str, Any]] = deque(maxlen=limit)
        self.webhook_seq = 0
        self.sends: dict[str, SendCount] = {}
        self.outbound: dict[str, Outbound] = {}
        self.conversations: dict[tuple[str, str], dict[str, Any]] = {}
        self.last_inbound: dict[tuple[str, str], float] = {}
        self.customers: dict[tuple[str, str], str] = {}  # (account, user) -> profile name
        self.usernames: dict[tuple[str, str], str] = {}  # Instagram handles customer play gave
        self.counters = Counters()

    # Accounts ------------------------------------------------------------------------------

    def account(self, external_id: str) -> AccountConfig | None:
        return self.accounts.get(external_id)

    def by_token(self, token: str) -> list[AccountConfig]:
        return [a for a in self.accounts.values() if a.access_token == token]

    def by_waba(self, waba: str) -> list[AccountConfig]:
        return [a for a in self.accounts.values() if a.channel == "whatsapp" and a.waba == waba]

    def timing(self, account: AccountConfig) -> StatusTiming:
        return account.timing or self.settings.timing

    def webhook_url(self, account: AccountConfig) -> str | None:
        return account.webhook_url or self.settings.webhook_url

    # Templates -----------------------------------------------------------------------------

    def put_template(self, template: TemplateConfig) -> tuple[TemplateConfig, str | None]:
        """Add or replace (same name, language, WABA); returns it and its previous status."""
        for i, old in enumerate(self.templates):
            same = (old.name, old.language, old.waba_id)
            if same == (template.name, template.language, template.waba_id):
                new = template.model_copy(update={"id": template.id or old.id})
                self.templates[i] = new
                return new, old.status
        self.template_seq += 1
        new = template.model_copy(update={"id": template.id or str(self.template_seq)})
        self.templates.append(new)
        return new, None

    def templates_of(self, waba: str) -> list[TemplateConfig]:
        return [t for t in self.templates if t.waba_id in (None, waba)]

    # Faults and limits ---------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        fault.id = fault.id or short_token(6)
        self.faults.append(fault)
        return fault

    def take_faults(
        self,
        account: str | None,
        recipient: str | None,
        token: str,
        path: str,
        message_type: str | None = None,
    ) -> list[Fault]:
        """The faults this request triggers (one per kind, oldest first); uses up `times`.

        Every matching fault counts the request for its `every` / `probability`, even when an
        older fault of the same kind already struck, so its rate does not depend on others."""
        if self.settings.instant:
            return []
        hit: dict[str, Fault] = {}
        for fault in list(self.faults):
            if not fault.matches(account, recipient, token, path, message_type):
                continue
            if not fault.strikes() or fault.kind in hit:
                continue
            hit[fault.kind] = fault
            fault.hits += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        return list(hit.values())

    def take_rate(self, account: AccountConfig) -> float:
        """Count an accepted send in this second, or refuse it with 130429 (not in instant
        mode, which still counts). Returns the acceptance time: the counts bucket by it."""
        now = time.time()
        limit = account.rate_limit_per_second or self.settings.rate_limit_per_second
        name = account.external_id
        if (
            limit is not None
            and not self.settings.instant
            and self.counters.accepted_now(name, int(now)) >= limit
        ):
            raise GraphError(
                130429,
                f"Cloud API message throughput ({limit} messages per second) has been reached.",
                whatsapp=account.channel == "whatsapp",
            )
        self.counters.accept(name, now)
        return now

    def rate_limits(self) -> dict[str, int | None]:
        limits: dict[str, int | None] = {}
        for name in self.counters.accounts:
            account = self.accounts.get(name)
            own = account.rate_limit_per_second if account else None
            limits[name] = own or self.settings.rate_limit_per_second
        return limits

    def window_open(self, account: AccountConfig, user: str, seconds: int) -> bool:
        last = self.last_inbound.get((account.external_id, user))
        return last is not None and time.time() - last <= seconds

    # Recording -----------------------------------------------------------------------------

    def add_request(self, record: dict[str, Any]) -> dict[str, Any]:
        record["index"] = self.request_seq
        self.request_seq += 1
        self.requests.append(record)
        return record

    def add_webhook(self, record: dict[str, Any]) -> dict[str, Any]:
        record["index"] = self.webhook_seq
        self.webhook_seq += 1
        self.webhooks.append(record)
        return record

    def count_send(
        self, channel: str, account: str, to: str, body: dict[str, Any]
    ) -> tuple[SendCount, RecipientCounts]:
        """Count a send attempt per client-side message and per recipient."""
        key, kind = send_key(channel, account, to, body)
        entry = self.sends.get(key)
        if entry is None:
            entry = self.sends[key] = SendCount(key, kind, account, to)
        entry.attempts += 1
        return entry, self.counters.attempt(account, to)

    @staticmethod
    def count_accepted(counts: tuple[SendCount, RecipientCounts] | None, message: Outbound) -> None:
        if counts is None:
            return
        entry, recipient = counts
        entry.accepted += 1
        entry.message_ids.append(message.id)
        recipient.accepted += 1
        recipient.templates += message.type == "template"

    def add_outbound(self, message: Outbound) -> None:
        self.outbound[message.id] = message
        while len(self.outbound) > self.config.record_limit:
            self.outbound.pop(next(iter(self.outbound)))

    # Background work -----------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            limits = httpx.Limits(
                max_connections=WEBHOOKS_IN_FLIGHT, max_keepalive_connections=WEBHOOKS_IN_FLIGHT
            )
            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False, limits=limits)
        return self._http

    @property
    def posting(self) -> asyncio.Semaphore:
        """Webhook posts in flight at most: with hundreds waiting in httpx's pool its
        bookkeeping took most of the sandbox's CPU and status webhooks fell behind."""
        if self._posting is None:
            self._posting = asyncio.Semaphore(WEBHOOKS_IN_FLIGHT)
        return self._posting

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def idle(self, within: float) -> bool:
        """Wait until no webhook is scheduled or in flight; False after `within` seconds."""
        deadline = time.monotonic() + within
        while self.tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(set(self.tasks), timeout=left)
        return True

    async def aclose(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=2)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
