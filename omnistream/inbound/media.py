"""Fetching inbound media: the files of inbound messages, stored under settings.media_dir.

One tick (`fetch_media`) claims due 'pending' inbound media rows (leased, SKIP LOCKED),
downloads them outside any transaction, and records each outcome with a message.updated
event for the messages that show the file:
- WhatsApp: GET {graph}/{media id} with the account's token -> {url, mime_type, sha256},
  then GET url with the same token.
- Messenger / Instagram: GET the attachment's CDN URL as given (no token is sent).
The download is streamed to a temporary file under a size cap and hashed on the way; a
sha256 named by the webhook or the Graph API must match. Transient failures (network, 5xx,
429, a hash mismatch) retry with backoff; after MAX_ATTEMPTS, or at once for permanent ones
(the media is gone, the token is refused), the row is 'failed' with the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import asyncpg
import httpx

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.inbound import queries
from omnistream.integrations.accounts import AccountConfig, by_id
from omnistream.kit.aio import run_each
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.kit.net import http_client
from omnistream.messages.media import safe_filename
from omnistream.messages.service import emit_updated
from omnistream.workers.liveness import current_key, log_claim

log = logging.getLogger(__name__)
BATCH_SIZE = 8
CONCURRENCY = 4
MAX_ATTEMPTS = 5
MAX_BYTES = 100 * 1024 * 1024  # WhatsApp's largest media (documents)
TIMEOUT_SECONDS = 60.0
LEASE_SECONDS = 600.0  # longer than the slowest fetch (a 100 MB file)
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 600.0
FOLDER = "inbound"  # under settings.media_dir


class FetchError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Stored:
    storage_path: str
    size_bytes: int
    sha256: str
    mime_type: str
    filename: str


def backoff(attempt: int) -> float:
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


def _expected_digest(declared: str | None) -> bytes | None:
    """A sha256 as channels write it: hex, or base64 (WhatsApp webhooks)."""
    if not declared:
        return None
    text = declared.strip()
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 32 else None


def _check_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status < 300:
        return
    reason = f"{what} answered HTTP {status}"
    if status == 429 or status >= 500 or status == 408:
        raise FetchError(reason)
    raise FetchError(reason, permanent=True)  # gone, refused or invalid: retrying cannot help


async def _locate(
    client: httpx.AsyncClient, account: AccountConfig, media_id: str
) -> dict[str, Any]:
    """WhatsApp: the media's download URL and description from the Graph API."""
    headers = {"Authorization": f"Bearer {account.access_token}"}
    response = await client.get(f"{account.graph_url}/{quote(media_id, safe='')}", headers=headers)
    _check_status(response, "the Graph API")
    try:
        info = response.json()
    except ValueError:
        raise FetchError("the Graph API answered something other than JSON") from None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        raise FetchError("the Graph API's answer has no download url")
    return info


async def _download(
    client: httpx.AsyncClient,
    settings: Settings,
    url: str,
    headers: dict[str, str],
    expected: bytes | None,
) -> tuple[str, int, str, str]:
    """(relative path, size, sha256 hex, content type) of the file stored under media_dir."""
    token = secrets.token_hex(16)
    relative = f"{FOLDER}/{token[:2]}/{token}"
    final = settings.media_dir / relative
    temp = final.with_suffix(".part")
    await anyio.Path(final.parent).mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    stored = False
    try:
        async with client.stream("GET", url, headers=headers) as response:
            _check_status(response, "the media download")
            content_type = response.headers.get("content-type", "")
            async with await anyio.open_file(temp, "wb") as out:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise FetchError(f"the file is over {MAX_BYTES} bytes", permanent=True)
                    hasher.update(chunk)
                    await out.write(chunk)
        digest = hasher.digest()
        if expected is not None and digest != expected:
            raise FetchError(
                f"sha256 mismatch: expected {expected.hex()}, downloaded {digest.hex()}"
            )
        await anyio.Path(temp).rename(final)
        stored = True
    finally:
        if not stored:
            await anyio.Path(temp).unlink(missing_ok=True)
    return relative, size, digest.hex(), content_type


def _filename(row: asyncpg.Record, mime: str) -> str:
    if row["filename"]:
        return safe_filename(row["filename"])
    extension = mimetypes.guess_extension(mime) or ""
    return mime.split("/", 1)[0] + extension


async def fetch_one(
    client: httpx.AsyncClient, settings: Settings, account: AccountConfig | None, row: Any
) -> Stored:
    """Download one claimed media row; FetchError says why not."""
    mime: str = row["mime_type"]
    expected = _expected_digest(row["sha256"])
    if row["channel_media_id"] and row["channel"] == Channel.WHATSAPP:
        if account is None:
            raise FetchError("the conversation's WhatsApp account no longer exists", permanent=True)
        info = await _locate(client, account, row["channel_media_id"])
        expected = expected or _expected_digest(info.get("sha256"))
        headers = {"Authorization": f"Bearer {account.access_token}"}
        path, size, digest, _ = await _download(client, settings, info["url"], headers, expected)
        if isinstance(info.get("mime_type"), str) and mime in ("", "application/octet-stream"):
            mime = info["mime_type"]
    elif row["source_url"]:
        path, size, digest, served = await _download(
            client, settings, row["source_url"], {}, expected
        )
        served = served.split(";", 1)[0].strip().lower()
        if served and served != "application/octet-stream" and "/" in served:
            mime = served  # the CDN's type is better than the attachment type's guess
    else:
        raise FetchError("the message names no media id or URL to fetch", permanent=True)
    return Stored(path, size, digest, mime, _filename(row, mime))


async def _record(pool: Pool, row: Any, outcome: Stored | FetchError) -> None:
    media_id, attempt = row["id"], row["attempts"]
    async with transaction(pool) as tx:
        if isinstance(outcome, Stored):
            messages = await queries.media_ready(
                tx.conn,
                media_id,
                attempt,
                storage_path=outcome.storage_path,
                size_bytes=outcome.size_bytes,
                sha256=outcome.sha256,
                mime_type=outcome.mime_type,
                filename=outcome.filename,
            )
        elif outcome.permanent or attempt >= MAX_ATTEMPTS:
            reason = (
                outcome.reason
                if outcome.permanent
                else f"{outcome.reason} (after {attempt} attempts)"
            )
            messages = await queries.media_failed(tx.conn, media_id, attempt, reason)
        else:
            await queries.media_retry(tx.conn, media_id, attempt, backoff(attempt), outcome.reason)
            messages = []
        for message in messages:
            await emit_updated(tx.conn, message)


async def _fetch_and_record(
    pool: Pool, settings: Settings, box: SecretBox, client: httpx.AsyncClient, row: Any
) -> None:
    outcome: Stored | FetchError
    try:
        account = None
        if row["integration_account_id"] is not None:
            async with pool.acquire() as conn:
                account = await by_id(conn, box, row["integration_account_id"])
        outcome = await fetch_one(client, settings, account, row)
    except FetchError as exc:
        outcome = exc
    except httpx.HTTPError as exc:
        outcome = FetchError(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug: retried like a transient error, and logged
        log.exception("inbound media fetch raised", extra={"media_id": str(row["id"])})
        outcome = FetchError(f"unexpected error: {exc}")
    if isinstance(outcome, Stored):
        stored = outcome
        try:
            await _record(pool, row, stored)
        except BaseException:
            await anyio.Path(Path(settings.media_dir) / stored.storage_path).unlink(missing_ok=True)
            raise
    else:
        await _record(pool, row, outcome)


async def fetch_media(
    pool: Pool, settings: Settings, box: SecretBox, limit: int = BATCH_SIZE
) -> int:
    """One tick: claim due inbound media, fetch them, record the outcomes. Returns how many
    were claimed (0: nothing was due)."""
    async with transaction(pool) as tx:
        claimed = await queries.claim_media(tx.conn, limit, LEASE_SECONDS, current_key())
    log_claim(log, "inbound media", len(claimed))
    if not claimed:
        return 0
    async with http_client(settings.allow_private_urls, timeout=TIMEOUT_SECONDS) as client:
        await run_each(
            claimed,
            lambda row: _fetch_and_record(pool, settings, box, client, row),
            concurrency=CONCURRENCY,
            log=log,
            failure="could not record an inbound media outcome",  # the lease retries it
        )
    return len(claimed)
