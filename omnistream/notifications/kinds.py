"""What a notification is about (notifications.kind; the web app has a text for each)."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    MENTION = "mention"  # an agent mentioned the recipient in a note
    SNOOZE_ENDED = "snooze_ended"  # a snoozed conversation of the recipient's came back
