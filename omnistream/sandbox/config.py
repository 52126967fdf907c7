"""The sandbox's configuration: accounts, templates, status timing, limits.

A config file (JSON, or TOML by its .toml suffix) has the fields of SandboxConfig; every
field is optional. Runtime changes go through the control API (PATCH /_sandbox/settings,
POST /_sandbox/accounts); POST /_sandbox/reset returns to this configuration.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ChannelName = Literal["whatsapp", "messenger", "instagram"]
CHANNELS: tuple[ChannelName, ...] = ("whatsapp", "messenger", "instagram")


class StatusTiming(BaseModel):
    """When the status webhooks of an accepted send go out, in ms after the previous step.

    WhatsApp: sent -> delivered -> read. Messenger: the delivery event after sent_ms +
    delivered_ms, then read. Instagram: read only (it has no delivery receipts). None skips
    a step (Meta may skip `delivered`); enabled=false sends no receipts at all (injected
    `failed` statuses are still sent).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    sent_ms: int = Field(0, ge=0, le=600_000)
    delivered_ms: int | None = Field(200, ge=0, le=600_000)
    read_ms: int | None = Field(1000, ge=0, le=600_000)


class AccountConfig(BaseModel):
    """A WhatsApp phone number, a Messenger page or an Instagram account."""

    model_config = ConfigDict(extra="forbid")

    channel: ChannelName
    external_id: str = Field(
        pattern=r"^[0-9A-Za-z_-]{1,64}$",
        description="phone_number_id (WhatsApp), page id (Messenger) or IG account id",
    )
    access_token: str = Field(min_length=1, max_length=1000)
    app_secret: str = Field(min_length=1, max_length=1000)
    webhook_url: str | None = Field(
        None, description="OmniStream's POST /webhooks/meta URL; default: the global one"
    )
    waba_id: str | None = Field(
        None, pattern=r"^[0-9A-Za-z_-]{1,64}$", description="WhatsApp: default derived"
    )
    display_phone_number: str | None = Field(
        None, pattern=r"^\+?[0-9 ()-]{5,20}$", description="WhatsApp: default 1555 + digits"
    )
    name: str = Field("OmniStream Sandbox", description="verified name / page name")
    rate_limit_per_second: int | None = Field(
        None, ge=1, description="accepted sends per second; above it 130429 (HTTP 429)"
    )
    timing: StatusTiming | None = Field(None, description="default: the global timing")
    enforce_window: bool = Field(
        False,
        description="WhatsApp: non-template sends outside the customer window fail with 131047; "
        "Messenger/Instagram: refused with code 10 unless tagged HUMAN_AGENT (7 days)",
    )
    window_seconds: int = Field(86400, ge=1)
    echoes: bool = Field(False, description="Messenger/Instagram: send is_echo webhooks")

    @property
    def waba(self) -> str:
        return self.waba_id or f"waba-{self.external_id}"

    @property
    def phone_digits(self) -> str:
        if self.display_phone_number:
            return "".join(c for c in self.display_phone_number if c.isdigit())
        digits = "".join(c for c in self.external_id if c.isdigit())[-7:]
        return "1555" + digits.rjust(7, "0")


class TemplateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field("en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    category: Literal["AUTHENTICATION", "MARKETING", "UTILITY"] = "UTILITY"
    status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] = "APPROVED"
    parameter_format: Literal["POSITIONAL", "NAMED"] = "POSITIONAL"
    components: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"type": "BODY", "text": "Hello"}]
    )
    waba_id: str | None = Field(None, description="only this WABA lists it; None: every WABA")
    id: str | None = None


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_url: str | None = Field(
        None, description="Base URL in media download links and paging; default: the request's"
    )
    webhook_url: str | None = Field(None, description="Default webhook URL of every account")
    timing: StatusTiming = Field(default_factory=StatusTiming)
    rate_limit_per_second: int | None = Field(
        None, ge=1, description="Default per-account send rate (Meta's default is 80)"
    )
    instant: bool = Field(
        False,
        description="Benchmarks: accept every valid send at once; no faults, rate limits, "
        "windows or status webhooks",
    )
    webhook_retries: int = Field(3, ge=0, le=20, description="Retries after a non-2xx answer")
    webhook_retry_ms: int = Field(500, ge=0, description="First retry delay; doubles each time")
    webhook_timeout_s: float = Field(5.0, gt=0)
    record_limit: int = Field(10_000, ge=10, description="Recorded requests/webhooks kept")
    media_max_bytes: int = Field(100 * 1024 * 1024, ge=1)
    media_url_ttl_s: int = Field(300, ge=1)
    accounts: list[AccountConfig] = Field(default_factory=list)
    templates: list[TemplateConfig] | None = Field(None, description="None: the defaults")


def load_config(path: Path) -> SandboxConfig:
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    return SandboxConfig.model_validate(data)


DEMO_APP_SECRET = "sandbox-app-secret"


def demo_accounts() -> list[AccountConfig]:
    """One account per channel with well-known ids and tokens (for `make run` and docs)."""
    return [
        AccountConfig(
            channel="whatsapp",
            external_id="100000000000001",
            waba_id="200000000000001",
            display_phone_number="15550100001",
            access_token="sandbox-whatsapp-token",
            app_secret=DEMO_APP_SECRET,
        ),
        AccountConfig(
            channel="messenger",
            external_id="300000000000001",
            access_token="sandbox-messenger-token",
            app_secret=DEMO_APP_SECRET,
            name="OmniStream Sandbox Page",
        ),
        AccountConfig(
            channel="instagram",
            external_id="400000000000001",
            access_token="sandbox-instagram-token",
            app_secret=DEMO_APP_SECRET,
            name="omnistream.sandbox",
        ),
    ]
