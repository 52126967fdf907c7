"""Signing secrets and signatures, by the Standard Webhooks specification.

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes. A signature
is `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")); during a
rotation the header carries one per valid secret, separated by spaces.

Secrets are stored sealed (kit.crypto.SecretBox), bound to their endpoint and slot, so a
sealed value copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

from omnistream.kit.crypto import SecretBox

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature_header(secrets_: list[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: one `v1,<base64>` per secret, space-separated."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(_key(s), signed, hashlib.sha256)).decode()
        for s in secrets_
    )


def _context(webhook_id: UUID, slot: str) -> str:
    return f"webhook:{webhook_id}:{slot}"


def seal(box: SecretBox, webhook_id: UUID, secret: str, slot: str = "secret") -> str:
    return box.encrypt(secret, _context(webhook_id, slot))


def unseal(box: SecretBox, webhook_id: UUID, sealed: str, slot: str = "secret") -> str:
    """Raises kit.crypto.DecryptError when the key that sealed it is gone."""
    return box.decrypt(sealed, _context(webhook_id, slot))
