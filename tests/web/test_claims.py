"""The README claims only what works: outside its Roadmap section it names no feature whose
routes do not exist (the claim table is tests/web/claims.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.claims import FEATURES, api_paths, unshipped_claims

README = Path(__file__).resolve().parents[2] / "README.md"


def sections(markdown: str) -> dict[str, str]:
    """Top-level (##) sections by heading; the text before the first is under ''."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    out = {"": parts[0]}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        out[heading.strip()] = body
    return out


def test_the_readme_announces_only_shipped_features() -> None:
    parts = sections(README.read_text())
    assert "Roadmap" in parts, "the README keeps what is planned under ## Roadmap"
    claimed = {
        heading: unshipped_claims(body) for heading, body in parts.items() if heading != "Roadmap"
    }
    assert {h: c for h, c in claimed.items() if c} == {}


def test_the_roadmap_lists_what_has_not_shipped() -> None:
    roadmap = sections(README.read_text())["Roadmap"]
    # Everything not shipped is on the roadmap (so the README says where it went) ...
    unshipped = {f.name for f in FEATURES if not f.shipped()}
    claimed = {c.split(":")[0] for c in unshipped_claims(roadmap)}
    assert unshipped <= claimed, (unshipped, claimed)
    # shipped: the README may announce them
    assert {"broadcast campaigns", "the email channel"}.isdisjoint(unshipped)
    # ... and the table recognises a claim when it sees one (the check is not blind).
    email = next(f for f in FEATURES if f.name == "the email channel")
    assert any(re.search(w, "Connect WhatsApp, Messenger and Email.") for w in email.words)
    assert not any(re.search(w, "WhatsApp users. Write to help@example.com") for w in email.words)
    assert "/api/v1/conversations" in api_paths()
