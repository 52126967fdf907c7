"""A real in-process channel adapter for tests: records every send, answers with channel
ids of its own, and fails (transiently or permanently) or stalls when told to."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from uuid import UUID

from omnistream.channels.registry import (
    OutboundMessage,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
)


class FakeChannel:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds each send takes (widens races; trips timeouts)
        self.calls: Counter[UUID] = Counter()  # send calls per message id, failed ones too
        self.sent: list[OutboundMessage] = []  # messages the "channel" accepted
        self.ids: dict[UUID, str] = {}  # message id -> channel id it was given
        self._script: deque[SendError] = deque()
        self._in_flight = 0
        self.max_in_flight = 0

    def transient(
        self,
        times: int = 1,
        code: str = "130429",
        reason: str = "throughput limit reached",
        retry_after: float | None = None,
    ) -> None:
        for _ in range(times):
            self._script.append(TransientSendError(code, reason, retry_after=retry_after))

    def permanent(
        self,
        times: int = 1,
        code: str = "131026",
        reason: str = "the recipient cannot receive WhatsApp messages",
    ) -> None:
        for _ in range(times):
            self._script.append(PermanentSendError(code, reason))

    def count(self, message_id: UUID | str) -> int:
        return self.calls[UUID(str(message_id))]

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls[message.message_id] += 1
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self._script:
                raise self._script.popleft()
            channel_id = f"fake.{message.message_id.hex}.{self.calls[message.message_id]}"
            self.sent.append(message)
            self.ids[message.message_id] = channel_id
            return SendResult(channel_message_id=channel_id)
        finally:
            self._in_flight -= 1
