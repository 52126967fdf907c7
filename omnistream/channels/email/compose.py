"""Outbound mails: an agent's reply (or a new thread) as an RFC 5322 message.

- `compose_reply`: the `EmailMessage` to hand to `smtp.send` — our Message-ID
  (`<conversation/{conv_id}/messages/{msg_id}@{domain}>`, shared/docs/meta-channels.md
  section 5), In-Reply-To / References from the thread, a `Re:` subject that is never
  doubled, text and a simple HTML part, attachments. Every header is pure ASCII
  (encoded words, RFC 2231 file names) and every body part 7-bit clean (quoted-printable
  or base64), so any server takes it without 8BITMIME or SMTPUTF8.
- `reply_subject`: the subject rules on their own.
- `parse_own_message_id` / `message_ids_in`: for the inbound side, to recognise our own
  sent mails and thread replies to them.

Header injection: names and subjects are made single-line (control characters become
spaces); addresses, the domain and file names are validated or cleaned, never trusted.
"""

from __future__ import annotations

import email.policy
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from typing import Any, NamedTuple
from uuid import UUID

MAX_REFERENCES = 30  # the root and the latest 29: some servers refuse huge headers
MAX_MESSAGE_ID_LENGTH = 900  # a header line must stay under 998 characters
REPLY_PREFIX = "Re: "
# Reply prefixes (a counter like "Re[2]:" or "RE(3):" allowed) collapsed into one "Re:":
# English and Latin "Re", German "AW", Scandinavian "SV", Dutch "Antw", Polish "Odp",
# Portuguese "RES", Turkish "YNT", Arabic "رد". Forward prefixes (Fwd, Fw, WG, TR, RV)
# are content and stay: a reply to "Fwd: invoice" is "Re: Fwd: invoice".
_REPLY_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|sv|antw|odp|res|ynt|رد)\s*(?:\[\d+\]|\(\d+\))?\s*[:：])+\s*",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_ADDRESS_FORBIDDEN = re.compile(r"[\s<>@\"(),;:\\\[\]\x00-\x1f\x7f]")
_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_BRACKETED_ID = re.compile(r"<([^<>\s]+)>")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_OWN_ID = re.compile(rf"^<?conversation/({_UUID})/messages/({_UUID})@([^<>@\s]+?)>?$")
_MESSAGE_ID_HEADERS = frozenset({"message-id", "in-reply-to", "references"})


class ComposeError(ValueError):
    """A value that cannot go into a mail (an invalid address, an empty new subject...);
    `field` names the argument."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str  # "type/subtype"; anything unusable is sent as application/octet-stream
    data: bytes


class OwnMessageId(NamedTuple):
    conversation_id: UUID
    message_id: UUID
    domain: str


class _MessageIdListHeader(BaseHeader):
    """Message-ID, In-Reply-To and References: folded between ids only. The standard
    unstructured folding turns a token longer than a line (ours are over 100 characters)
    into an RFC 2047 encoded word, which no client matches against its Message-IDs."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["decoded"] = " ".join(f"<{found}>" for found in _BRACKETED_ID.findall(value))
        kwds["parse_tree"] = None

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 78
        lines = [f"{self.name}:"]
        for message_id in self.split():
            if len(lines[-1]) + 1 + len(message_id) > limit and lines[-1] != f"{self.name}:":
                lines.append("")
            lines[-1] += f" {message_id}"
        return policy.linesep.join(lines) + policy.linesep


class _OutboundHeaderFactory(HeaderRegistry):
    """Our Message-ID list headers, and each header class made once: the stdlib registry
    creates a new class for every header it builds (about a third of composing)."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(key)
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if name.lower() in _MESSAGE_ID_HEADERS:
            return _MessageIdListHeader(name, value)
        return super().__call__(name, value)


# SMTP line endings, and text parts encoded 7-bit clean at composition time.
OUTBOUND_POLICY = email.policy.SMTP.clone(cte_type="7bit", header_factory=_OutboundHeaderFactory())


def single_line(text: str) -> str:
    """`text` without line breaks or control characters (each run becomes one space):
    what a display name or a subject may carry into a header."""
    return " ".join(_CONTROL.sub(" ", text).split())


def reply_subject(thread_subject: str) -> str:
    """`Re: <subject>` with any leading reply prefixes (`Re:`, `RE:`, `Re[2]:`, `AW:`...)
    collapsed into that one; forward prefixes are kept after it."""
    subject = _REPLY_PREFIXES.sub("", single_line(thread_subject), count=1)
    return (REPLY_PREFIX + subject).strip()


def normalize_message_id(value: str) -> str | None:
    """`<id>` from an id with or without its angle brackets; None for something that
    cannot be a msg-id (spaces, control or non-ASCII characters, too long)."""
    bare = value.strip()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1]
    if not bare or len(bare) > MAX_MESSAGE_ID_LENGTH or not bare.isascii():
        return None
    if any(ch in "<>" or ord(ch) <= 32 or ord(ch) == 127 for ch in bare):
        return None
    return f"<{bare}>"


def message_ids_in(header_value: str) -> list[str]:
    """The `<id>`s of an In-Reply-To or References value, in order."""
    return [f"<{found}>" for found in _BRACKETED_ID.findall(header_value)]


def own_message_id(conversation_id: UUID, message_id: UUID, domain: str) -> str:
    return f"<conversation/{conversation_id}/messages/{message_id}@{_domain(domain)}>"


def parse_own_message_id(value: str, *, domain: str | None = None) -> OwnMessageId | None:
    """(conversation id, message id, domain) when `value` is a Message-ID we made (on
    `domain`, when given); None otherwise."""
    found = _OWN_ID.match(value.strip())
    if found is None:
        return None
    found_domain = found.group(3).lower()
    if domain is not None:
        try:
            if found_domain != _domain(domain):
                return None
        except ComposeError:
            return None
    return OwnMessageId(UUID(found.group(1)), UUID(found.group(2)), found_domain)


def references_chain(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """RFC 5322 3.6.4: the parent's References then the parent's Message-ID, each once,
    in order, the parent last; invalid ids dropped; over MAX_REFERENCES, the root and
    the newest kept."""
    parent = normalize_message_id(in_reply_to) if in_reply_to else None
    chain: list[str] = []
    for raw in references:
        for candidate in message_ids_in(raw) or [raw]:
            normalized = normalize_message_id(candidate)
            if normalized and normalized != parent and normalized not in chain:
                chain.append(normalized)
    if parent:
        chain.append(parent)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


def text_to_html(text: str) -> str:
    """A minimal HTML rendering of the plain text: escaped, blank lines separate
    paragraphs, single line breaks kept; `dir="auto"` so Arabic reads right to left."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", normalized) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.strip("\n").split("\n")) + "</p>"
        for p in paragraphs
    )
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"></head>\n'
        f'<body>\n<div dir="auto">\n{body}\n</div>\n</body>\n</html>\n'
    )


def compose_reply(
    *,
    from_name: str,
    from_address: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str,
    new_thread: bool,
    conversation_id: UUID,
    message_id: UUID,
    domain: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    body_text: str,
    attachments: Sequence[OutboundAttachment] = (),
    reply_to: str | None = None,
    sent_at: datetime | None = None,
) -> EmailMessage:
    """The mail for one outbound message. `subject` is the thread's subject: kept as is
    for a new thread (required then), made `Re: ...` for a reply. `in_reply_to` is the
    Message-ID replied to and `references` its References chain (ids with or without
    brackets, or whole header values); both are ignored for a new thread.

    Raises ComposeError for an invalid address or domain, no recipient, or a new thread
    without a subject.
    """
    if not to:
        raise ComposeError("to", "at least one recipient is needed")
    message = EmailMessage(policy=OUTBOUND_POLICY)
    message["From"] = _mailbox("from_address", from_address, single_line(from_name))
    message["To"] = [_mailbox("to", address) for address in to]
    if cc:
        message["Cc"] = [_mailbox("cc", address) for address in cc]
    if reply_to:
        message["Reply-To"] = _mailbox("reply_to", reply_to)
    if new_thread and not single_line(subject):
        raise ComposeError("subject", "a new email thread needs a subject")
    message["Subject"] = single_line(subject) if new_thread else reply_subject(subject)
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message["Message-ID"] = own_message_id(conversation_id, message_id, domain)
    if not new_thread:
        chain = references_chain(references, in_reply_to)
        parent = normalize_message_id(in_reply_to) if in_reply_to else None
        if parent:
            message["In-Reply-To"] = parent
        if chain:
            message["References"] = " ".join(chain)
    message.set_content(body_text)
    message.add_alternative(text_to_html(body_text), subtype="html")
    for attachment in attachments:
        maintype, subtype = _attachment_type(attachment.content_type)
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=_attachment_filename(attachment.filename),
        )
    return message


def _domain(domain: str) -> str:
    """The domain in lower case, IDNA-encoded when it is not ASCII; ComposeError if it
    is not a host name."""
    cleaned = domain.strip().rstrip(".").lower()
    try:
        ascii_domain = cleaned if cleaned.isascii() else cleaned.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ComposeError("domain", f"{domain!r} is not a valid domain") from exc
    if not _DOMAIN.match(ascii_domain):
        raise ComposeError("domain", f"{domain!r} is not a valid domain")
    return ascii_domain


def _mailbox(field: str, address: str, display_name: str = "") -> Address:
    # Addresses are refused rather than cleaned: a silently changed address would send
    # the mail somewhere else.
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not local.isascii() or _ADDRESS_FORBIDDEN.search(local):
        raise ComposeError(field, f"{address!r} is not a valid email address")
    try:
        ascii_domain = _domain(domain)
    except ComposeError as exc:
        raise ComposeError(field, f"{address!r} is not a valid email address") from exc
    try:
        return Address(display_name=display_name, addr_spec=f"{local}@{ascii_domain}")
    except (ValueError, HeaderParseError) as exc:
        raise ComposeError(field, f"{address!r} is not a valid email address") from exc


def _attachment_type(content_type: str) -> tuple[str, str]:
    cleaned = content_type.split(";", 1)[0].strip().lower()
    # message/* and multipart/* parts may not be base64 (RFC 2046): send them as bytes.
    if not _CONTENT_TYPE.match(cleaned) or cleaned.startswith(("message/", "multipart/")):
        return "application", "octet-stream"
    maintype, subtype = cleaned.split("/", 1)
    return maintype, subtype


def _attachment_filename(filename: str) -> str:
    """The last path component, single-line; "attachment" when nothing is left."""
    name = single_line(re.split(r"[/\\]", filename)[-1]).strip(". ")
    return name or "attachment"
