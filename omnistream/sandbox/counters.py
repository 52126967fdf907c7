"""Running counts of Graph traffic: per account and wall-clock second, and per recipient.

Kept apart from the request recording (which holds only the last `record_limit` requests)
so a 100,000-send benchmark can still prove "never over the rate in any second" and
"exactly one send per recipient". Every update is O(1) and in memory: this is on the hot
path of the benchmarks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

REQUESTS, SENDS, ACCEPTED, THROTTLED = range(4)
MAX_SECONDS = 86_400  # per account; older seconds are dropped (a day of traffic)


@dataclass
class AccountCounts:
    seconds: dict[int, list[int]] = field(default_factory=dict)  # [requests, sends, ...]
    recent: deque[float] = field(default_factory=deque)  # acceptances in the last second
    max_window: int = 0  # most acceptances in any sliding 1 s window
    total_accepted: int = 0
    total_throttled: int = 0

    def bucket(self, second: int) -> list[int]:
        row = self.seconds.get(second)
        if row is None:
            row = self.seconds[second] = [0, 0, 0, 0]
            if len(self.seconds) > MAX_SECONDS:
                del self.seconds[next(iter(self.seconds))]
        return row


@dataclass
class RecipientCounts:
    attempts: int = 0  # send requests that named this recipient, refused ones too
    accepted: int = 0
    templates: int = 0  # accepted template sends (campaigns send only these)


class Counters:
    def __init__(self) -> None:
        self.accounts: dict[str, AccountCounts] = {}
        self.recipients: dict[tuple[str, str], RecipientCounts] = {}

    def of(self, account: str) -> AccountCounts:
        counts = self.accounts.get(account)
        if counts is None:
            counts = self.accounts[account] = AccountCounts()
        return counts

    def request(self, account: str, at: float, *, send: bool, throttled: bool) -> None:
        """A Graph request about `account` was answered (counted by the recorder)."""
        counts = self.of(account)
        row = counts.bucket(int(at))
        row[REQUESTS] += 1
        if send:
            row[SENDS] += 1
        if throttled:
            row[THROTTLED] += 1
            counts.total_throttled += 1

    def accepted_now(self, account: str, second: int) -> int:
        """Sends accepted so far in this wall-clock second (what the rate limit checks)."""
        counts = self.accounts.get(account)
        row = counts.seconds.get(second) if counts else None
        return row[ACCEPTED] if row else 0

    def accept(self, account: str, at: float) -> None:
        counts = self.of(account)
        counts.bucket(int(at))[ACCEPTED] += 1
        counts.total_accepted += 1
        recent = counts.recent
        recent.append(at)
        while at - recent[0] >= 1.0:  # keep the half-open window (at - 1 s, at]
            recent.popleft()
        counts.max_window = max(counts.max_window, len(recent))

    def attempt(self, account: str, to: str) -> RecipientCounts:
        entry = self.recipients.get((account, to))
        if entry is None:
            entry = self.recipients[(account, to)] = RecipientCounts()
        entry.attempts += 1
        return entry

    # Reports -------------------------------------------------------------------------------

    def histogram(self, limits: dict[str, int | None], account: str | None) -> dict[str, Any]:
        """Per account and wall-clock second: requests, sends, accepted sends, 429s."""
        out: dict[str, Any] = {}
        for name, counts in self.accounts.items():
            if account and name != account:
                continue
            rows = [
                {"second": s, "requests": r[0], "sends": r[1], "accepted": r[2], "throttled": r[3]}
                for s, r in sorted(counts.seconds.items())
            ]
            limit = limits.get(name)
            out[name] = {
                "limit": limit,
                "per_second": rows,
                "max_requests_per_second": max((r["requests"] for r in rows), default=0),
                "max_accepted_per_second": max((r["accepted"] for r in rows), default=0),
                "max_accepted_in_any_1s_window": counts.max_window,
                "over_limit_seconds": [
                    r["second"] for r in rows if limit is not None and r["accepted"] > limit
                ],
                "total_accepted": counts.total_accepted,
                "total_throttled": counts.total_throttled,
            }
        return {"accounts": out}

    def per_recipient(
        self, account: str | None, to: str | None, min_accepted: int, limit: int
    ) -> dict[str, Any]:
        """Send counts per (account, recipient), with a summary of all that match."""
        listed: list[dict[str, Any]] = []
        recipients = accepted = duplicates = never = 0
        most = 0
        for (name, number), c in self.recipients.items():
            if (account and name != account) or (to and number != to):
                continue
            recipients += 1
            accepted += c.accepted
            duplicates += c.accepted > 1
            never += c.accepted == 0
            most = max(most, c.accepted)
            if c.accepted >= min_accepted and len(listed) < limit:
                listed.append(
                    {
                        "account": name,
                        "to": number,
                        "attempts": c.attempts,
                        "accepted": c.accepted,
                        "templates": c.templates,
                    }
                )
        return {
            "recipients": listed,
            "total_recipients": recipients,
            "total_accepted": accepted,
            "duplicates": duplicates,
            "never_accepted": never,
            "max_accepted": most,
        }
