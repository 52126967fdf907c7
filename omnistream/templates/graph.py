"""Reading a WABA's templates from the Graph API: `GET /{waba-id}/message_templates`, every
page (shared/docs/meta-channels.md section 2, "Templates"). I/O only, no SQL.

Pages are followed with `paging.cursors.after` on our own URL while Meta announces a
`paging.next`, rather than fetching the `next` URL itself: that URL is whatever the answer
says, and following it would hand the bearer token to any host it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from omnistream.channels.errors import AUTH_CODES, cut, graph_error
from omnistream.kit.net import BlockedAddressError, http_client

PAGE_SIZE = 100
MAX_PAGES = 200  # 20,000 templates: far above Meta's per-WABA limit; stops a cursor loop
TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class SyncTarget:
    """What a sync needs of one WhatsApp integration, decrypted."""

    integration_id: UUID
    name: str
    waba_id: str
    token: str
    graph_url: str  # {base_url}/{api_version}


class SyncError(Exception):
    """The listing could not be read; `reason` is written for the admin, `auth` when Meta
    refused the token (the integration is then marked auth_failed)."""

    def __init__(self, code: str, reason: str, *, auth: bool = False) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = cut(reason)
        self.auth = auth


def _refused(status: int, body: Any, token: str) -> SyncError:
    code, _, said = graph_error(body)
    if token:
        said = said.replace(token, "[redacted]")
    told = f"Meta error {code}: {said}" if code is not None else f"HTTP {status}"
    label = str(code) if code is not None else f"http_{status}"
    if status == 401 or code in AUTH_CODES:
        reason = "the access token was refused (expired or revoked): update the integration's"
        return SyncError(label, f"{reason} credentials ({told})", auth=True)
    if code == 100:
        return SyncError(
            label,
            f"Meta does not know this WABA or the token may not read it: check waba_id ({told})",
        )
    if code is not None and 200 <= code < 300:
        return SyncError(
            label,
            f"the token lacks the whatsapp_business_management permission for this WABA ({told})",
        )
    return SyncError(label, f"Meta refused the template listing with HTTP {status} ({told})")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def fetch_all(target: SyncTarget, *, allow_private: bool) -> list[dict[str, Any]]:
    """Every template Meta lists for the WABA, in Meta's order; SyncError if any page fails
    (a partial listing is never applied: it would mark the rest removed)."""
    url = f"{target.graph_url}/{quote(target.waba_id, safe='')}/message_templates"
    headers = {"Authorization": f"Bearer {target.token}"}
    params = {"limit": str(PAGE_SIZE)}
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    async with http_client(allow_private, timeout=TIMEOUT_SECONDS) as client:
        for _ in range(MAX_PAGES):
            try:
                response = await client.get(url, params=params, headers=headers)
            except BlockedAddressError as exc:
                raise SyncError("blocked_address", str(exc)) from None
            except httpx.TimeoutException:
                raise SyncError(
                    "timeout", f"the Graph API did not answer within {TIMEOUT_SECONDS:g} s"
                ) from None
            except httpx.HTTPError as exc:
                reason = str(exc).replace(target.token, "[redacted]") or type(exc).__name__
                raise SyncError("connection_error", f"cannot reach Meta: {reason}") from None
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            if not 200 <= response.status_code < 300:
                raise _refused(response.status_code, body, target.token)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise SyncError(
                    "bad_response",
                    f"Meta answered HTTP {response.status_code} without a list of templates: "
                    "check the integration's base_url",
                )
            found.extend(item for item in body["data"] if isinstance(item, dict))
            paging = _object(body.get("paging"))
            after = _object(paging.get("cursors")).get("after")
            if not paging.get("next") or not isinstance(after, str) or not after:
                return found
            if after in seen:
                raise SyncError("paging_loop", "Meta's paging returned the same cursor twice")
            seen.add(after)
            params = {"limit": str(PAGE_SIZE), "after": after}
    raise SyncError("too_many_pages", f"more than {MAX_PAGES} pages of templates")
