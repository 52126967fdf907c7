"""The channel-adapter registry: channel name -> the adapter that sends on it.

The outbound sender (omnistream/messages/worker.py) looks an adapter up per message. A
channel with no adapter registered is not an error of the worker: the message fails with
the readable reason "no adapter for channel X is configured", which agents see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from omnistream.kit.enums import Channel

NO_ADAPTER = "no_adapter"


@dataclass(frozen=True)
class MediaFile:
    """A stored file to send (an agent upload); the adapter uploads it to the channel."""

    media_id: UUID
    path: Path
    mime_type: str
    filename: str
    size_bytes: int
    sha256: str | None


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send, with everything an adapter needs and nothing it must query.

    `content` is the stored content: {"text": ...} for text, {"caption": ...} for media.
    `message_id` is stable across attempts: channels that take an idempotency key (email's
    Message-ID, a client reference) should use it, which narrows the at-least-once window.
    """

    message_id: UUID
    conversation_id: UUID
    channel: str
    integration_account_id: UUID | None
    recipient: str
    type: str
    content: Mapping[str, Any]
    media: MediaFile | None = None
    reply_to_channel_message_id: str | None = None
    attempt: int = 1
    # What the channel echoes back in its receipts (WhatsApp biz_opaque_callback_data);
    # None: the message id. Campaign sends name their recipient ("c:<id>").
    callback_data: str | None = None


@dataclass(frozen=True)
class SendResult:
    """The channel accepted the message; its id lets later status updates find it."""

    channel_message_id: str
    details: Mapping[str, Any] = field(default_factory=dict)


class SendError(Exception):
    """A send that did not succeed; `code` is stable (the channel's or ours), `reason` is
    written for the agent who sees it next to the failed message."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class TransientSendError(SendError):
    """Worth retrying (rate limits, timeouts, 5xx); `retry_after` seconds if the channel
    said how long to wait."""

    def __init__(self, code: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(code, reason)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Retrying cannot help (invalid recipient, outside the 24 h window, bad credentials)."""


async def read_media_file(media: MediaFile) -> bytes:
    """The stored file's bytes, read off the event loop; a missing file fails the message."""
    try:
        return await asyncio.to_thread(media.path.read_bytes)
    except OSError:
        raise PermanentSendError(
            "media_unavailable", "the attached file is missing from storage"
        ) from None


class ChannelAdapter(Protocol):
    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message; raise TransientSendError or PermanentSendError on failure.

        Must give up within the sender's timeout (messages/worker.py SEND_TIMEOUT_SECONDS).
        """
        ...


class ChannelRegistry:
    def __init__(self, adapters: Mapping[str, ChannelAdapter] | None = None) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        for channel, adapter in (adapters or {}).items():
            self.register(channel, adapter)

    def register(self, channel: str, adapter: ChannelAdapter) -> None:
        """Set (or replace) the adapter of a channel; the name must be a known channel."""
        self._adapters[Channel(channel).value] = adapter

    def unregister(self, channel: str) -> None:
        self._adapters.pop(Channel(channel).value, None)

    def get(self, channel: str) -> ChannelAdapter | None:
        return self._adapters.get(channel)

    def require(self, channel: str) -> ChannelAdapter:
        adapter = self._adapters.get(channel)
        if adapter is None:
            raise PermanentSendError(NO_ADAPTER, f"no adapter for channel {channel} is configured")
        return adapter

    def channels(self) -> list[str]:
        return sorted(self._adapters)


async def send_within(
    registry: ChannelRegistry, message: OutboundMessage, seconds: float
) -> SendResult:
    """Send through the message's channel adapter; a transient `timeout` error when the
    channel has not answered within `seconds` (the send may still have arrived)."""
    adapter = registry.require(message.channel)
    try:
        return await asyncio.wait_for(adapter.send(message), seconds)
    except TimeoutError:
        raise TransientSendError(
            "timeout", f"the {message.channel} API did not answer within {seconds:g} s"
        ) from None


# The registry the worker process uses; channel packages register their adapters here at
# start-up (issue 4). Tests build their own ChannelRegistry and pass it to send_due.
default_registry = ChannelRegistry()
