"""Secrets at rest: round trip, binding to their place, tampering, key rotation."""

from __future__ import annotations

import pytest

from omnistream.kit.crypto import DecryptError, SecretBox

ROOT = "r" * 48
NEW_ROOT = "n" * 48


def test_round_trip_and_no_plaintext() -> None:
    box = SecretBox(ROOT)
    token = box.encrypt("EAAG-secret-token", "integration:1:access_token")
    assert "EAAG" not in token and token.startswith(f"v1.{box.key_id}.")
    assert box.decrypt(token, "integration:1:access_token") == "EAAG-secret-token"
    assert box.encrypt("x", "c") != box.encrypt("x", "c")  # fresh nonce each time


def test_bound_to_its_place_and_tamper_evident() -> None:
    box = SecretBox(ROOT)
    token = box.encrypt("secret", "integration:1:app_secret")
    with pytest.raises(DecryptError, match="belongs elsewhere"):
        box.decrypt(token, "integration:2:app_secret")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptError):
        box.decrypt(flipped, "integration:1:app_secret")
    with pytest.raises(DecryptError, match="not an encrypted value"):
        box.decrypt("plain", "integration:1:app_secret")


def test_rotation_keeps_old_values_readable() -> None:
    old = SecretBox(ROOT)
    token = old.encrypt("secret", "ctx")
    rotated = SecretBox(NEW_ROOT, previous_roots=[ROOT])
    assert rotated.decrypt(token, "ctx") == "secret"
    assert rotated.needs_rotation(token)
    assert not rotated.needs_rotation(rotated.encrypt("secret", "ctx"))
    with pytest.raises(DecryptError, match="rotated away"):
        SecretBox(NEW_ROOT).decrypt(token, "ctx")
