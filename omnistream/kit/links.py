"""Media links agents give us to send (a quick reply's attachment, a reply's `link`, a
template's media header): one rule everywhere, since the customer's app opens the link.

Only https:// links (Meta fetches media over TLS, and a customer should never be handed a
link that can be read or swapped on the way), and never a program: a link whose file name
ends in an executable extension is refused, whatever its query string says.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit

from omnistream.kit.errors import Unprocessable

# Programs and installers a customer's device could run; matched on the path's last name.
EXECUTABLE_EXTENSIONS = frozenset(
    {
        ".apk", ".app", ".bat", ".bin", ".cmd", ".com", ".cpl", ".deb", ".dll", ".dmg",
        ".exe", ".hta", ".ipa", ".jar", ".js", ".jse", ".lnk", ".msi", ".msp", ".pif",
        ".pkg", ".ps1", ".reg", ".rpm", ".run", ".scr", ".sh", ".vb", ".vbe", ".vbs",
        ".ws", ".wsf", ".wsh",
    }
)  # fmt: skip
LINK_MAX = 2000

LinkProblem = Literal["media_link", "media_link_malformed", "media_link_executable"]
NOT_HTTPS = "must be a https:// link with a host (http:// and other schemes are refused)"


def link_problem(link: str) -> tuple[LinkProblem, str] | None:
    """Why this media link is refused, as (error type, message), or None when it is fine."""
    if any(c.isspace() or ord(c) < 32 for c in link):
        return "media_link_malformed", "must not contain spaces or control characters"
    try:  # ValueError on a malformed host ("https://[::1/x") or port (above 65535)
        url = urlsplit(link)
        url.port  # noqa: B018 - read only to have a bad port raise here
    except ValueError:
        return "media_link_malformed", "must be a https:// link with a valid host and port"
    if url.scheme.lower() != "https" or not url.hostname:
        return "media_link", NOT_HTTPS
    name = unquote(url.path).rsplit("/", 1)[-1].lower().rstrip(". ")
    extension = name[name.rfind(".") :] if "." in name else ""
    if extension in EXECUTABLE_EXTENSIONS:
        return "media_link_executable", (
            f"must not point to a program ({extension} files are refused): "
            "link an image, video, audio file or document"
        )
    return None


def link_refused(field: str, found: tuple[LinkProblem, str]) -> Unprocessable:
    """The 422 naming `field`, with the error type, so a client can say it in its language."""
    kind, message = found
    return Unprocessable(
        f"{field}: {message}", errors=[{"field": field, "message": message, "type": kind}]
    )
