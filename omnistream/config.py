"""Settings: the only place the environment is read."""

from __future__ import annotations

import errno
import os
import secrets
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_READ_TRIES = 40  # 2 s


class ConfigError(Exception):
    """A setting is invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OMNISTREAM_", extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "OMNISTREAM_DATABASE_URL"),
        description="PostgreSQL DSN; unset starts the embedded PostgreSQL in the data directory.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN of a streaming read replica for lag-tolerant reads "
        "(reports, search, activity log, exports, contact lists; docs/read-replica.md).",
    )
    read_max_lag_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Replica lag beyond which the lag-tolerant reads go to the primary.",
    )
    data_dir: Path = Field(Path("var"), description="Embedded database, keys and uploads.")
    host: str = Field("127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `serve` binds to.")
    sandbox_port: int = Field(
        8787, ge=1, le=65535, description="Port of `make run`'s Graph API sandbox (serve --demo)."
    )
    secret_key: str | None = Field(
        default=None,
        min_length=32,
        description="Signs tokens; unset: generated once into DATA_DIR/secret.key.",
    )
    previous_secret_keys: str = Field(
        "",
        description="Comma-separated earlier secret keys (read secrets stored before rotation).",
    )
    access_token_ttl_seconds: int = Field(900, ge=60, le=86400)
    refresh_token_ttl_days: int = Field(30, ge=1, le=365)
    login_max_failures: int = Field(5, ge=1, le=100)
    login_window_seconds: int = Field(900, ge=10, le=86400)
    argon2_time_cost: int = Field(3, ge=1, le=20)
    argon2_memory_kib: int = Field(65536, ge=1024, le=1048576)
    argon2_parallelism: int = Field(4, ge=1, le=16)
    db_pool_min: int = Field(2, ge=1, le=100)
    db_pool_max: int = Field(10, ge=1, le=200)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    access_log: bool = True
    admin_email: str = Field("admin@example.com", description="First admin's email.")
    default_region: str = Field(
        "ID", pattern=r"^[A-Z]{2}$", description="Region for phone numbers without +country."
    )
    upload_max_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    upload_mime_types: str = Field(
        "image/jpeg,image/png,image/webp,video/mp4,video/3gpp,audio/aac,audio/mp4,audio/mpeg,"
        "audio/amr,audio/ogg,application/pdf,text/plain,application/msword,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
        "application/vnd.ms-excel,"
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        description="Comma-separated MIME types agents may upload.",
    )
    event_retention_hours: int = Field(48, ge=24, le=24 * 90)
    webhook_audit_retention_days: int = Field(30, ge=1, le=3650)
    webhook_delivery_retention_days: int = Field(
        30, ge=1, le=3650, description="Outgoing webhook attempts and finished deliveries kept."
    )
    webhook_auto_disable_days: float = Field(
        5.0,
        gt=0,
        le=365,
        description="An outgoing webhook whose deliveries all failed this long is disabled.",
    )
    outbound_max_attempts: int = Field(8, ge=1, le=50)
    worker_takeover_grace_seconds: float = Field(
        20.0,
        ge=0,
        le=3600,
        description="Work claimed by a worker that died is taken over after this long "
        "(time for the status of a send accepted just before the crash to arrive).",
    )
    shutdown_grace_seconds: float = Field(
        15.0,
        ge=0,
        le=600,
        description="On SIGTERM, how long in-flight requests and worker batches may take to "
        "finish before they are cut (docs/operations.md#graceful-shutdown).",
    )
    scheduled_send_when_resolved: bool = Field(
        True, description="Send a due scheduled message even if its conversation is resolved."
    )
    scheduled_late_seconds: int = Field(
        60, ge=1, le=86400, description="A scheduled message sent later than this is `late`."
    )
    allow_private_urls: bool = Field(
        False,
        description="Let outgoing requests reach loopback/private addresses (sandbox, tests).",
    )
    whatsapp_mark_read: bool = Field(True, description="Send WhatsApp read receipts on open.")
    assign_on_reply: bool = Field(
        True, description="An agent replying to an unassigned conversation is assigned it."
    )
    template_sync_seconds: int = Field(
        3600, ge=60, le=7 * 86400, description="How often the worker syncs WhatsApp templates."
    )
    profile_refresh_hours: int = Field(
        24, ge=1, le=24 * 30, description="Messenger/Instagram profiles: re-read at most this."
    )
    ws_compression: bool = Field(
        False, description="permessage-deflate on WebSockets (CPU per socket per frame)."
    )
    webhook_max_bytes: int = Field(3 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    campaign_rate_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Share of a number's send rate a campaign may use (the rest: replies).",
    )
    campaign_reply_window_hours: int = Field(
        72, ge=1, le=24 * 30, description="A reply within this long is linked to the campaign."
    )
    campaign_stop_keywords: str = Field(
        "STOP,BERHENTI,UNSUBSCRIBE",
        description="Comma-separated button payloads / whole messages that opt a number out.",
    )
    campaign_csv_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024, description="Largest audience CSV."
    )
    webhook_rejected_samples: int = Field(
        5, ge=0, le=1000, description="Refused webhook bodies kept per source address a minute."
    )
    webhook_rejected_samples_per_minute: int = Field(
        20, ge=1, le=10000, description="Refused webhook bodies kept a minute, all sources."
    )
    presence_offline_seconds: float = Field(
        120.0,
        gt=0,
        le=86400,
        description="An agent whose last live connection (WebSocket) closed this long ago "
        "is shown offline (docs/inbox.md#availability).",
    )
    worker_loops_off: str = Field(
        "",
        description="Comma-separated names of worker loops this process does not run "
        "(omnistream/worker.py LOOPS), e.g. a worker dedicated to campaigns.",
    )
    heartbeat_seconds: float = Field(
        5.0,
        ge=0.2,
        le=300,
        description="How often each API and worker process writes its heartbeat (Settings › "
        "System); one missing for three beats shows the process as gone (docs/system.md).",
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="Bearer token for GET /metrics on the API port; unset: /metrics answers "
        "404 there (docs/metrics.md).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A separate listener serving /metrics (without the token unless "
        "OMNISTREAM_METRICS_TOKEN is set), in `serve` and `worker`; unset: none.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the OMNISTREAM_METRICS_PORT listener binds to."
    )
    metrics_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR"),
        description="prometheus_client's own variable: with it, every process on the host "
        "writes its metrics there and any scrape adds them up (docs/metrics.md).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("admin_email")
    @classmethod
    def _email(cls, value: str) -> str:
        # The same check as an agent's email over the API, so the first admin can sign in.
        try:
            return validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValueError(f"is not a valid email address ({exc})") from None

    @field_validator("upload_mime_types")
    @classmethod
    def _mime_types(cls, value: str) -> str:
        if not any(t.strip() for t in value.split(",")):
            raise ValueError("must name at least one MIME type")
        return value

    @field_validator("worker_loops_off")
    @classmethod
    def _loops_off(cls, value: str) -> str:
        # Read here so that a typo stops the process at start instead of silently running
        # every loop. Imported late: the worker module imports this one.
        from omnistream.worker import LOOPS

        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in LOOPS]
        if unknown:
            raise ValueError(
                f"unknown loop {', '.join(map(repr, unknown))}; the loops are " + ", ".join(LOOPS)
            )
        return ",".join(dict.fromkeys(names))

    @property
    def loops_off(self) -> frozenset[str]:
        """The worker loops this process skips (OMNISTREAM_WORKER_LOOPS_OFF)."""
        return frozenset(n for n in self.worker_loops_off.split(",") if n)

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql://")
        return value

    @property
    def allowed_upload_types(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.upload_mime_types.split(",") if t.strip())

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @cached_property
    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _key_file(self.data_dir / "secret.key")


def _key_file(path: Path) -> str:
    """Read, or create once, a random key readable only by this user.

    Processes starting at the same moment (serve and a worker) must end up with the same
    key: the key is written whole to a private temporary file which is then hard-linked to
    `path`. The link fails if `path` exists, so the first writer wins and the others read
    its key; a reader never sees a half-written file."""
    if path.exists():
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return _read_key(path)
        except OSError:  # no hard links on this file system: exclusive create instead
            if not _create_exclusive(path, key):
                return _read_key(path)
    finally:
        os.unlink(temp)
    return key


def _create_exclusive(path: Path, key: str) -> bool:
    """False when another process created `path` first."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as file:
        file.write(key)
        file.flush()
        os.fsync(file.fileno())
    return True


def _read_key(path: Path) -> str:
    """The key in `path`. An empty file may be another process's exclusive create still
    writing (or an older version's crash between creating and writing): wait a little."""
    for _ in range(KEY_READ_TRIES):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.05)
    raise OSError(
        errno.EINVAL,
        f"{path} is empty; set OMNISTREAM_SECRET_KEY, or remove the file to have a new key made",
    )


def load_settings(**overrides: object) -> Settings:
    """Build settings; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        var = "DATABASE_URL" if field in ("database_url", "DATABASE_URL") else field
        if not var.startswith("OMNISTREAM_") and var != "DATABASE_URL":
            var = "OMNISTREAM_" + var.upper()
        shown = (
            ""
            if any(w in var for w in ("SECRET", "DATABASE", "TOKEN"))
            else f" (got {first.get('input')!r})"
        )
        raise ConfigError(f"{var}: {first['msg']}{shown}") from None
