"""Graph API errors in Meta's shape: {"error": {"message", "type", "code", ...}}."""

from __future__ import annotations

from typing import Any

from omnistream.sandbox.ids import fbtrace_id

ERROR_HELP = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# code -> (title, details); the titles are Meta's.
CATALOG: dict[int, tuple[str, str]] = {
    0: ("AuthException", "We were unable to authenticate the app user."),
    1: ("An unknown error occurred", "Invalid request or possible server error."),
    2: ("Service temporarily unavailable", "Temporary due to downtime or due to being overloaded."),
    4: ("Application request limit reached", "The app has reached its API call rate limit."),
    10: (
        "Permission denied",
        "This message is sent outside of allowed window.",
    ),
    551: ("This person isn't available right now.", "The recipient cannot be messaged."),
    100: ("Invalid parameter", "The request included one or more invalid parameters."),
    190: (
        "Error validating access token: Session has expired.",
        "The access token has expired or been invalidated.",
    ),
    80007: ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131008: ("Required parameter is missing", "The request is missing a required parameter."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
    131016: ("Service unavailable", "A service is temporarily unavailable."),
    131026: ("Message undeliverable", "Message Undeliverable."),
    131030: ("Recipient phone number not in allowed list", "Add the number to the allow list."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: ("Spam rate limit hit", "Message failed to send because of spam restrictions."),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "Meta chose not to deliver this marketing message.",
    ),
    # The title is Meta's description of 131050 (its short title is unconfirmed).
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business.",
        "The user stopped marketing messages from this business.",
    ),
    131051: ("Unsupported message type", "Message type is currently not supported."),
    131052: ("Media download error", "Unable to download the media sent by the user."),
    131053: ("Media upload error", "Unable to upload the media used in the message."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone "
        "number in a short period of time.",
    ),
    131057: ("Account in maintenance mode", "Business Account is in maintenance mode."),
    132000: (
        "Number of parameters does not match the expected number of params",
        "The number of parameters does not match the template's placeholders.",
    ),
    132001: (
        "Template name does not exist in the translation",
        "The template does not exist in the specified language or is not approved.",
    ),
    132015: ("Template is Paused", "The template is paused due to low quality."),
    132016: ("Template is Disabled", "The template has been permanently disabled."),
    2500: ("Unknown path components", "The path does not name a Graph API object or edge."),
}

HTTP_STATUS: dict[int, int] = {
    0: 401,
    190: 401,
    4: 429,
    80007: 429,
    130429: 429,
    10: 403,
    200: 403,
    1: 500,
    131000: 500,
    2: 503,
    131016: 503,
    131057: 503,
}
TRANSIENT = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057})


def title_of(code: int) -> str:
    return CATALOG.get(code, ("Error", ""))[0]


class GraphError(Exception):
    """An error answered in Meta's shape; `details` goes to error_data.details."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        message: str | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        whatsapp: bool = True,
    ) -> None:
        title, default_details = CATALOG.get(code, ("Error", ""))
        self.code = code
        self.details = details if details is not None else default_details
        if message is None:
            message = title if code == 190 else f"(#{code}) {title}"
        self.message = message
        self.subcode = subcode
        self.http_status = http_status or HTTP_STATUS.get(code, 400)
        self.whatsapp = whatsapp
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException"}
        error["code"] = self.code
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.code in TRANSIENT:
            error["is_transient"] = True
        if self.details:
            data: dict[str, Any] = {"details": self.details}
            if self.whatsapp:
                data = {"messaging_product": "whatsapp", **data}
            error["error_data"] = data
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}


def invalid(details: str, *, whatsapp: bool = True) -> GraphError:
    """A malformed request: code 100, HTTP 400, with a readable message."""
    return GraphError(100, details, message=f"(#100) {details}", whatsapp=whatsapp)


def bad_token(
    details: str = "Invalid OAuth access token - Cannot parse access token",
) -> GraphError:
    return GraphError(190, "", message=details)


def no_object(node: str, method: str = "get") -> GraphError:
    text = (
        f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation."
    )
    return GraphError(100, text, message=text, subcode=33)


def status_error(code: int, details: str | None = None) -> dict[str, Any]:
    """An item of a failed status webhook's errors[] (as Meta sends it)."""
    title, default_details = CATALOG.get(code, ("Error", ""))
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or default_details},
        "href": ERROR_HELP,
    }
