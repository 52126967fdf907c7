"""X-Hub-Signature-256: HMAC-SHA256 of the raw body keyed with a Meta app secret.

The secrets of the active Meta integrations are decrypted once and kept in process for
CACHE_SECONDS (this check runs on every webhook call). A signature that matches none of them
reloads the secrets at once, at most every MIN_RELOAD_SECONDS, so a new or rotated secret is
accepted on its first call while bad signatures cannot turn into a query per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

from omnistream.db.pool import Pool
from omnistream.integrations.accounts import app_secrets
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel

HEADER = "x-hub-signature-256"
PREFIX = "sha256="
META_CHANNELS = [Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM]
CACHE_SECONDS = 5.0
MIN_RELOAD_SECONDS = 1.0


def signature(secret: str | bytes, body: bytes) -> str:
    """The header value Meta sends for this body (tests and the sandbox sign with it)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def digest_of(header: str) -> bytes | None:
    """The 32-byte digest of a well-formed header value, else None."""
    if not header.startswith(PREFIX):
        return None
    try:
        digest = bytes.fromhex(header[len(PREFIX) :].strip())
    except ValueError:
        return None
    return digest if len(digest) == hashlib.sha256().digest_size else None


def matches(body: bytes, digest: bytes, secrets: tuple[bytes, ...]) -> bool:
    """Constant time per secret; every secret is tried."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(hmac.digest(secret, body, "sha256"), digest)
    return found


class AppSecrets:
    """The decrypted app secrets of the active Meta integrations, cached."""

    def __init__(self) -> None:
        self._secrets: tuple[bytes, ...] = ()
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def _load(self, pool: Pool, box: SecretBox, seen: float) -> tuple[bytes, ...]:
        async with self._lock:  # one load at a time; waiters reuse its result
            if self._loaded_at > seen:
                return self._secrets
            async with pool.acquire() as conn:
                pairs = await app_secrets(conn, box, META_CHANNELS)
            self._secrets = tuple(dict.fromkeys(secret.encode() for _, secret in pairs))
            self._loaded_at = time.monotonic()
            return self._secrets

    async def verify(self, pool: Pool, box: SecretBox, body: bytes, digest: bytes) -> bool:
        seen = self._loaded_at
        secrets = self._secrets
        if time.monotonic() - seen >= CACHE_SECONDS:
            secrets = await self._load(pool, box, seen)
        if matches(body, digest, secrets):
            return True
        seen = self._loaded_at
        if time.monotonic() - seen < MIN_RELOAD_SECONDS:
            return False
        return matches(body, digest, await self._load(pool, box, seen))


def app_secrets_of(app: Any) -> AppSecrets:
    """The process's cache, kept on the application's state."""
    cache: AppSecrets | None = getattr(app.state, "meta_app_secrets", None)
    if cache is None:
        cache = app.state.meta_app_secrets = AppSecrets()
    return cache
