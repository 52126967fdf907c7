"""How Meta's Graph API fails (shared/docs/meta-channels.md sections 2-4).

- `classify`: an error answer -> TransientSendError (worth retrying with backoff) or
  PermanentSendError (retrying cannot help; AuthSendError for a refused token), with the
  Meta code as `code` and a reason an agent can act on. Decisions use the numeric `code`
  (and the HTTP status), never titles.
The client that makes the calls is in `graph.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from omnistream.channels.registry import (
    PermanentSendError,
    SendError,
    TransientSendError,
)

REASON_MAX = 500
AUTH_CODES = frozenset({0, 102, 190})  # token invalid / expired / session error
WINDOW_SUBCODE = 2018278  # Messenger / Instagram: sent outside the allowed window
# Retry with backoff: rate limits, Meta-side trouble, maintenance.
TRANSIENT_CODES: dict[int, str] = {
    1: "Meta reported an unknown error; retrying",
    2: "the Graph API is temporarily unavailable; retrying",
    4: "the app's Graph API call-rate limit was reached; retrying later",
    1200: "Meta reported a temporary send error; retrying",
    80007: "the WhatsApp Business Account's rate limit was reached; retrying later",
    130429: "the phone number's throughput limit (messages per second) was reached; retrying",
    131000: "Meta reported an unknown error; retrying",
    131016: "the WhatsApp service is temporarily unavailable; retrying",
    131048: "WhatsApp's spam rate limit was hit; retrying later",
    131056: "too many messages to this customer in a short time (pair rate limit); retrying",
    131057: "the WhatsApp Business Account is in maintenance mode; retrying later",
}
# Fail at once; anything not listed in either table fails too, with Meta's own message.
PERMANENT_CODES: dict[int, str] = {
    3: "the app lacks the capability or permission for this call",
    10: "outside the allowed messaging window, or the permission is missing",
    100: "Meta refused a parameter of the message",
    131008: "a required parameter is missing",
    131009: "a parameter value is invalid",
    131026: "the message could not be delivered: the number may not be on WhatsApp, or the "
    "customer has not accepted the latest terms",
    131030: "the recipient is not in the test number's allowed list",
    131047: "more than 24 hours have passed since the customer's last message: only an "
    "approved template can be sent now",
    131049: "WhatsApp limits marketing messages to this customer; not delivered",
    131051: "this message type is not supported",
    131052: "WhatsApp could not download the media",
    131053: "WhatsApp could not accept the media file",
    132000: "the template's parameter count does not match",
    132001: "the template does not exist or is not approved in this language",
    132005: "the template text is too long after filling in the parameters",
    132007: "the template breaks WhatsApp's content policy",
    132008: "a template parameter has the wrong format",
    132012: "a template parameter has the wrong format",
    132015: "the template is paused because of low quality",
    132016: "the template is disabled",
}


class AuthSendError(PermanentSendError):
    """The channel refused the credentials (HTTP 401, Meta 190): the message fails and the
    integration is marked auth_failed (messages/worker.py records it)."""

    def __init__(self, code: str, reason: str, integration_id: UUID | None) -> None:
        super().__init__(code, reason)
        self.integration_id = integration_id


def graph_error(body: Any) -> tuple[int | None, int | None, str]:
    """(code, subcode, the most specific text Meta gave) of an error body
    {"error": {code, error_subcode, message, error_user_msg, error_data: {details}}}."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None, ""
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, Mapping) else None
    message = error.get("error_user_msg") or details or error.get("message") or ""
    return _number(error.get("code")), _number(error.get("error_subcode")), str(message)


def _number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _readable(code: int, subcode: int | None) -> str | None:
    if code == 10 and subcode == WINDOW_SUBCODE:
        return "outside the allowed messaging window for this customer (Messenger / Instagram)"
    if code in PERMANENT_CODES:
        return PERMANENT_CODES[code]
    if 132000 <= code < 133000:
        return "the template cannot be sent"
    if 200 <= code < 300:
        return "the app lacks the permission for this call"
    return None


def classify(
    status: int,
    body: Any,
    *,
    integration_id: UUID | None = None,
    retry_after: float | None = None,
    secret: str = "",
) -> SendError:
    """The SendError for an error answer (any status outside 2xx). `secret` (the token) is
    blanked out of Meta's text should it appear there."""
    code, subcode, said = graph_error(body)
    if secret:
        said = said.replace(secret, "[redacted]")
    told = f" (Meta error {code}: {said})" if code is not None else f" (HTTP {status})"
    if code is not None and not said:
        told = f" (Meta error {code})"
    label = str(code) if code is not None else f"http_{status}"
    if status == 401 or code in AUTH_CODES:
        reason = "the access token was refused (expired or revoked): update the integration's"
        return AuthSendError(label, cut(f"{reason} credentials{told}"), integration_id)
    if code is not None and code in TRANSIENT_CODES:
        return TransientSendError(label, cut(TRANSIENT_CODES[code] + told), retry_after=retry_after)
    readable = _readable(code, subcode) if code is not None else None
    if readable is not None:
        return PermanentSendError(label, cut(readable + told))
    if status == 429 or status >= 500:
        return TransientSendError(
            label, cut(f"Meta answered HTTP {status}; retrying{told}"), retry_after=retry_after
        )
    return PermanentSendError(label, cut(f"Meta refused the message{told}"))


def cut(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"
