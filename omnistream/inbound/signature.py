"""X-Hub-Signature-256: HMAC-SHA256 of the raw body keyed with a Meta app secret.

The secrets of the active Meta integrations are decrypted once and kept in process for
CACHE_SECONDS (this check runs on every webhook call). A signature that matches none of them
reloads the secrets at once, at most every MIN_RELOAD_SECONDS, so a new or rotated secret is
accepted on its first call while bad signatures cannot turn into a query per request.

A match also says WHO signed: the integrations holding that secret (several when one Meta
app serves several numbers or pages). They are stored with the call (webhook_audit.
signed_by), and the inbound loop applies an item only to an account of one of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

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


@dataclass(frozen=True, slots=True)
class Signers:
    """The integrations that hold one app secret."""

    ids: tuple[UUID, ...]
    literal: str  # as a PostgreSQL uuid[] literal, built once: the ack INSERT takes it as is


def signers(ids: list[UUID]) -> Signers:
    return Signers(tuple(ids), "{" + ",".join(str(i) for i in ids) + "}")


Keys = tuple[tuple[bytes, Signers], ...]


def signer_of(body: bytes, digest: bytes, keys: Keys) -> Signers | None:
    """Who signed this body, or None. Constant time per secret; every secret is tried."""
    found = None
    for secret, holders in keys:
        if hmac.compare_digest(hmac.digest(secret, body, "sha256"), digest):
            found = holders
    return found


def grouped(pairs: list[tuple[UUID, str]]) -> Keys:
    """(integration id, secret) pairs -> each distinct secret with all its integrations."""
    by_secret: dict[bytes, list[UUID]] = {}
    for integration_id, secret in pairs:
        by_secret.setdefault(secret.encode(), []).append(integration_id)
    return tuple((secret, signers(ids)) for secret, ids in by_secret.items())


class AppSecrets:
    """The decrypted app secrets of the active Meta integrations, cached."""

    def __init__(self) -> None:
        self._keys: Keys = ()
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def _load(self, pool: Pool, box: SecretBox, seen: float) -> Keys:
        async with self._lock:  # one load at a time; waiters reuse its result
            if self._loaded_at > seen:
                return self._keys
            async with pool.acquire() as conn:
                pairs = await app_secrets(conn, box, META_CHANNELS)
            self._keys = grouped(pairs)
            self._loaded_at = time.monotonic()
            return self._keys

    async def verify(
        self, pool: Pool, box: SecretBox, body: bytes, digest: bytes
    ) -> Signers | None:
        """The integrations whose app secret signed this body, or None for no match."""
        seen = self._loaded_at
        keys = self._keys
        if time.monotonic() - seen >= CACHE_SECONDS:
            keys = await self._load(pool, box, seen)
        found = signer_of(body, digest, keys)
        if found is not None:
            return found
        seen = self._loaded_at
        if time.monotonic() - seen < MIN_RELOAD_SECONDS:
            return None
        return signer_of(body, digest, await self._load(pool, box, seen))


def app_secrets_of(app: Any) -> AppSecrets:
    """The process's cache, kept on the application's state."""
    cache: AppSecrets | None = getattr(app.state, "meta_app_secrets", None)
    if cache is None:
        cache = app.state.meta_app_secrets = AppSecrets()
    return cache
