"""What OmniStream may claim: each feature that is on the roadmap, the words that announce
it (English and Bahasa Indonesia), and how to tell it has shipped. Used by the README test
(tests/web/test_claims.py) and the sign-in page test (tests/browser/test_claims.py): a text
naming a feature that has not shipped fails them, so a claim lands with its feature."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.routing import APIRoute

from omnistream.app import ROUTERS
from omnistream.integrations.schemas import AVAILABLE_CHANNELS
from omnistream.kit.enums import Channel


def api_paths() -> set[str]:
    return {r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)}


def _has_routes(prefix: str) -> Callable[[], bool]:
    return lambda: any(path.startswith(prefix) for path in api_paths())


@dataclass(frozen=True)
class Feature:
    name: str
    words: tuple[str, ...]  # regular expressions, matched case-sensitively as written
    shipped: Callable[[], bool]


FEATURES = (
    Feature(
        "broadcast campaigns",
        (r"\b[Cc]ampaigns?\b", r"\b[Kk]ampanye\b", r"\b[Bb]roadcasts?\b"),
        _has_routes("/api/v1/campaigns"),
    ),
    Feature("SLA policies", (r"\bSLA\b",), _has_routes("/api/v1/sla")),
    Feature(
        "CSAT surveys",
        (r"\bCSAT\b", r"[Ss]atisfaction survey", r"[Ss]urvei kepuasan"),
        _has_routes("/api/v1/csat"),
    ),
    Feature(
        "outgoing webhooks",
        (r"[Oo]utgoing webhooks?", r"[Ww]ebhook keluar"),
        _has_routes("/api/v1/webhooks"),
    ),
    Feature("reports", (r"\b[Rr]eports\b", r"\b[Ll]aporan\b"), _has_routes("/api/v1/reports")),
    # Email as a channel: named in a list of channels (an email address is no claim).
    Feature(
        "the email channel",
        (r"(WhatsApp|Instagram|Messenger)[^.\n]{0,60}\b[Ee]-?mail\b",),
        lambda: Channel.EMAIL in AVAILABLE_CHANNELS,
    ),
)


def unshipped_claims(text: str) -> list[str]:
    """The features `text` names that have not shipped, with the words that name them."""
    found = []
    for feature in FEATURES:
        if feature.shipped():
            continue
        for word in feature.words:
            match = re.search(word, text)
            if match:
                found.append(f"{feature.name}: {match.group(0)!r}")
    return found
