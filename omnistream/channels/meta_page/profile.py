"""Who is writing: a Messenger or Instagram user's profile from the Graph API
(shared/docs/meta-channels.md section 4b). I/O only, no SQL.

- Messenger: GET {graph}/{PSID}?fields=first_name,last_name,profile_pic
- Instagram: GET {graph}/{IGSID}?fields=name,username,profile_pic (no name: the username)
with the page token of the account that received the customer's message. A failure says
what to do next (LookupFailure): try again soon (Meta or the network had trouble), fix the
token (190), or leave this user alone for a long while (Meta cannot look them up: blocked,
deleted, no consent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import httpx

from omnistream.channels.errors import AUTH_CODES, TRANSIENT_CODES, cut, graph_error
from omnistream.integrations.accounts import AccountConfig
from omnistream.kit.enums import Channel
from omnistream.kit.net import BlockedAddressError

FIELDS = {
    Channel.MESSENGER: "first_name,last_name,profile_pic",
    Channel.INSTAGRAM: "name,username,profile_pic",
}
NAME_MAX = 200  # = contacts.schemas.Name
PICTURE_MAX = 2048  # = contacts.schemas.PictureUrl
_PICTURE = re.compile(r"^https?://\S+$")


class LookupFailure(StrEnum):
    TRANSIENT = "transient"  # network, timeout, rate limit, Meta-side trouble: retry soon
    AUTH = "auth"  # the page token was refused: the integration needs new credentials
    UNAVAILABLE = "unavailable"  # Meta will not look this user up: do not ask again soon


class ProfileError(Exception):
    def __init__(self, failure: LookupFailure, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = cut(reason)


@dataclass(frozen=True)
class Profile:
    name: str  # "" when Meta gave none
    picture: str | None  # an http(s) URL; expires after a while at Meta


def _text(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(value.replace("\x00", "").split())


def profile_from(channel: Channel, body: dict[str, Any]) -> Profile:
    """The name and picture of a profile answer, cleaned to what a contact can hold."""
    if channel is Channel.INSTAGRAM:
        name = _text(body.get("name")) or _text(body.get("username"))
    else:
        name = " ".join(
            p for p in (_text(body.get("first_name")), _text(body.get("last_name"))) if p
        )
    picture = body.get("profile_pic")
    if not (isinstance(picture, str) and len(picture) <= PICTURE_MAX and _PICTURE.match(picture)):
        picture = None
    return Profile(name[:NAME_MAX].strip(), picture)


def _refused(status: int, body: Any, token: str) -> ProfileError:
    code, subcode, said = graph_error(body)
    if token:
        said = said.replace(token, "[redacted]")
    if code is None:
        told = f"HTTP {status}"
    else:
        told = (
            f"Meta error {code}"
            + (f"/{subcode}" if subcode else "")
            + (f": {said}" if said else "")
        )
    if status == 401 or code in AUTH_CODES:
        return ProfileError(
            LookupFailure.AUTH,
            f"the page access token was refused: update the integration's credentials ({told})",
        )
    if code != 100 and (code in TRANSIENT_CODES or status in (408, 429) or status >= 500):
        return ProfileError(LookupFailure.TRANSIENT, f"Meta could not answer now ({told})")
    return ProfileError(
        LookupFailure.UNAVAILABLE,
        f"Meta cannot look this user up: blocked, deleted or no consent ({told})",
    )


async def fetch_profile(
    client: httpx.AsyncClient, account: AccountConfig, channel: Channel, user_id: str
) -> Profile:
    """The user's profile, or ProfileError saying why not. The token never appears in a
    reason."""
    url = f"{account.graph_url}/{quote(user_id, safe='')}"
    headers = {"Authorization": f"Bearer {account.access_token}"}
    token = account.access_token
    try:
        response = await client.get(url, params={"fields": FIELDS[channel]}, headers=headers)
    except BlockedAddressError as exc:
        raise ProfileError(LookupFailure.TRANSIENT, str(exc)) from None
    except httpx.TimeoutException:
        raise ProfileError(
            LookupFailure.TRANSIENT, "the Graph API did not answer in time"
        ) from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        if token:
            reason = reason.replace(token, "[redacted]")
        raise ProfileError(LookupFailure.TRANSIENT, f"cannot reach Meta: {reason}") from None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not 200 <= response.status_code < 300:
        raise _refused(response.status_code, body, token)
    if not isinstance(body, dict):
        raise ProfileError(
            LookupFailure.TRANSIENT,
            f"Meta answered HTTP {response.status_code} without a JSON object",
        )
    return profile_from(channel, body)
