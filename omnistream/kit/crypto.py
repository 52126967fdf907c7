"""Secrets at rest: AES-256-GCM with a key id, so keys can rotate.

Keys are derived (HKDF-SHA256) from OMNISTREAM_SECRET_KEY — the same root secret that signs
tokens, but a separate derived key for each purpose. A ciphertext names its key id, so
after rotation older values still decrypt with a previous root secret
(OMNISTREAM_PREVIOUS_SECRET_KEYS) until they are re-encrypted.

Token format: ``v1.<key id>.<base64url(nonce | ciphertext+tag)>``. The associated data binds a
value to where it is stored (e.g. ``integration:<id>:app_secret``), so a ciphertext copied to
another row or field does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_INFO = b"omnistream credentials v1"


class DecryptError(Exception):
    """A stored secret cannot be decrypted (unknown key id, tampered, or moved)."""


def derive_key(root_secret: str) -> tuple[str, bytes]:
    """The credentials key of a root secret and its id."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        root_secret.encode()
    )
    return hashlib.sha256(key).hexdigest()[:12], key


class SecretBox:
    def __init__(self, current_root: str, previous_roots: list[str] | None = None) -> None:
        self.key_id, current = derive_key(current_root)
        self._keys = {self.key_id: current}
        for root in previous_roots or []:
            kid, key = derive_key(root)
            self._keys.setdefault(kid, key)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self.key_id]).encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self.key_id}.{body}"

    def decrypt(self, token: str, context: str) -> str:
        try:
            version, kid, body = token.split(".", 2)
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise DecryptError("not an encrypted value") from None
        if version != _VERSION or kid not in self._keys:
            raise DecryptError(f"no key with id {kid!r}; was the secret key rotated away?")
        try:
            return AESGCM(self._keys[kid]).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag:
            raise DecryptError("the value was tampered with or belongs elsewhere") from None

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self.key_id]
