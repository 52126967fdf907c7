"""Refused webhook calls, counted per source address and minute with only a sample kept.

Every unsigned, badly signed or oversized call to /webhooks/meta used to leave an audit row
with up to 4 KB of its body, so a flood of junk could fill the disk. Now each one is
counted (webhook_rejections: one small row per source address and minute) and its body is
kept only among the first OMNISTREAM_WEBHOOK_REJECTED_SAMPLES of its source that minute and
the first OMNISTREAM_WEBHOOK_REJECTED_SAMPLES_PER_MINUTE of all sources; past SOURCES_PER_MINUTE
addresses in a minute the rest are counted together under '*'. One statement per call
(record_webhook_rejection, migration 0013). Signed calls never come here.

The source is the connection's peer address (scope["client"]). uvicorn replaces it with the
X-Forwarded-For client only when the peer is a proxy listed in FORWARDED_ALLOW_IPS (loopback
by default), so a caller cannot choose the address its junk is counted under.
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from omnistream.context import AppContext
from omnistream.inbound import rejection_queries

log = logging.getLogger(__name__)
REJECTED_BODY_BYTES = 4096  # what a kept refusal stores of its body, for diagnosis
SOURCES_PER_MINUTE = 100  # source rows a minute; further addresses share the row '*'
OTHER_SOURCES = "*"
UNKNOWN_SOURCE = "unknown"  # no peer address (e.g. a Unix socket)


def source_of(scope: Scope) -> str:
    client = scope.get("client")
    host = client[0] if client else ""
    return str(host)[:100] or UNKNOWN_SOURCE


async def record_rejection(
    ctx: AppContext, scope: Scope, headers: dict[str, str], head: bytes, error: str
) -> None:
    """Counts the refused call, keeps it if it is within the sample, and says once per
    source and minute (and once per minute for the overall cap) when bodies stop being kept."""
    settings = ctx.settings
    per_source = settings.webhook_rejected_samples
    per_minute = settings.webhook_rejected_samples_per_minute
    source = source_of(scope)
    async with ctx.pool.acquire() as conn:
        row = await rejection_queries.reject(
            conn,
            source,
            headers,
            head[:REJECTED_BODY_BYTES],
            error,
            (per_source, per_minute, SOURCES_PER_MINUTE),
        )
    counted_as: str = row["counted_as"]
    if row["rejected"] == per_source + 1:
        log.warning(
            "refused webhook calls from %s this minute passed %d: their bodies are no longer "
            "kept, only counted (webhook_rejections)",
            "other sources" if counted_as == OTHER_SOURCES else counted_as,
            per_source,
            extra={"source": counted_as, "kept": per_source},
        )
    if row["first_capped"]:
        log.warning(
            "refused webhook calls this minute passed %d kept bodies over all sources: further "
            "ones are only counted (webhook_rejections)",
            per_minute,
            extra={"source": source, "kept": per_minute},
        )
    if counted_as == OTHER_SOURCES and source != OTHER_SOURCES and row["rejected"] == 1:
        log.warning(
            "refused webhook calls this minute came from more than %d addresses: further "
            "addresses are counted together under '*'",
            SOURCES_PER_MINUTE,
            extra={"source": source},
        )
