"""What a WhatsApp template is made of, read from Meta's template object
(shared/docs/meta-channels.md section 2, "Templates"): the columns we keep (`row_of`) and the
parameters a send must give (`spec_of`). Pure: no SQL, no I/O.

Meta's components: HEADER {format TEXT|IMAGE|VIDEO|DOCUMENT|LOCATION, text?, example?},
BODY {text, example?}, FOOTER {text}, BUTTONS {buttons: [{type, text, url?, ...}]}.
Placeholders are `{{1}}`, `{{2}}` (positional) or `{{order_id}}` (named).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")
CATEGORIES = ("AUTHENTICATION", "MARKETING", "UTILITY")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
MEDIA_HEADERS = ("IMAGE", "VIDEO", "DOCUMENT")
# Meta states outside the five we store. Gone: the template no longer exists to send.
# Aliases: the state a send would meet (reinstated = approved again; in appeal = under review).
GONE = frozenset({"DELETED", "PENDING_DELETION", "ARCHIVED"})
STATUS_ALIASES = {"REINSTATED": "APPROVED", "IN_APPEAL": "PENDING", "UNPAUSED": "APPROVED"}
# Categories Meta used before its 2023 consolidation, should an old template still carry one.
CATEGORY_ALIASES = {"OTP": "AUTHENTICATION", "TRANSACTIONAL": "UTILITY"}
NAME_MAX = 512
REASON_MAX = 500

Need = Literal["required", "optional", "none"]


def placeholders(text: str) -> list[str]:
    """Distinct placeholder names in order of first appearance; positional ones sorted by
    number (the send lists their values in that order)."""
    names = list(dict.fromkeys(PLACEHOLDER.findall(text or "")))
    if names and all(n.isdigit() for n in names):
        names.sort(key=int)
    return names


def render(text: str, values: Mapping[str, str]) -> str:
    """The text with each placeholder replaced by its value (unknown ones stay as written)."""
    return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text or "")


def language_key(code: str) -> str:
    """Webhooks write en-US where the listing writes en_US."""
    return code.strip().replace("-", "_")


def status_of(raw: Any) -> str | None:
    """The stored status of a status Meta reports; None for a template that is gone. States
    we cannot tell apart (LIMIT_EXCEEDED, ...) count as DISABLED: only APPROVED is sent."""
    value = str(raw or "").strip().upper()
    if value in GONE:
        return None
    if value in STATUSES:
        return value
    return STATUS_ALIASES.get(value, "DISABLED")


def _components(raw: Any) -> list[dict[str, Any]]:
    return [dict(c) for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []


def component(components: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in components if str(c.get("type", "")).upper() == kind), None)


def _text(component: Mapping[str, Any] | None) -> str | None:
    value = component.get("text") if component else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class TemplateRow:
    """The columns a sync writes for one template of the listing."""

    external_id: str | None
    name: str
    language: str
    category: str
    status: str
    status_reason: str | None
    parameter_format: str
    header_type: str | None
    header_media_url: str | None
    body_text: str
    footer_text: str | None
    components: list[dict[str, Any]]

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.language


def parameter_format_of(raw: Any, components: list[dict[str, Any]]) -> str:
    """NAMED or POSITIONAL: as Meta says, else from the placeholders (older API versions do
    not return parameter_format unless asked)."""
    value = str(raw or "").upper()
    if value in ("NAMED", "POSITIONAL"):
        return value
    texts = [_text(c) or "" for c in components]
    names = [n for t in texts for n in PLACEHOLDER.findall(t)]
    return "NAMED" if any(not n.isdigit() for n in names) else "POSITIONAL"


def row_of(raw: Mapping[str, Any]) -> TemplateRow | None:
    """The columns of one listed template; None when it is gone at Meta (deleted, archived)
    or too malformed to keep (no name or language)."""
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not name or len(name) > NAME_MAX:
        return None
    if not isinstance(language, str) or not language.strip():
        return None
    status = status_of(raw.get("status"))
    if status is None:
        return None
    components = _components(raw.get("components"))
    header, footer = component(components, "HEADER"), component(components, "FOOTER")
    header_type = str(header.get("format", "TEXT")).upper() if header else None
    media_url = None
    if header and header_type in MEDIA_HEADERS:
        handles = (header.get("example") or {}).get("header_handle")
        if isinstance(handles, list) and handles and isinstance(handles[0], str):
            media_url = handles[0]  # Meta's sample of the header, shown in the detail
    category = str(raw.get("category") or "").upper()
    reason = raw.get("rejected_reason")
    raw_status = str(raw.get("status") or "").upper()
    if not (isinstance(reason, str) and reason and reason != "NONE"):
        reason = raw_status if raw_status != status else None
    external = raw.get("id")
    return TemplateRow(
        external_id=str(external) if isinstance(external, str | int) else None,
        name=name,
        language=language_key(language),
        category=category if category in CATEGORIES else CATEGORY_ALIASES.get(category, "UTILITY"),
        status=status,
        status_reason=reason[:REASON_MAX] if reason else None,
        parameter_format=parameter_format_of(raw.get("parameter_format"), components),
        header_type=header_type if header_type in HEADER_FORMATS else None,
        header_media_url=media_url,
        body_text=_text(component(components, "BODY")) or "",
        footer_text=_text(footer),
        components=components,
    )


# What a send needs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    index: int
    type: str  # Meta's button type: QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, ...
    text: str
    sub_type: str | None  # the send's sub_type for this button; None: nothing to send
    parameter: Need
    takes: str | None  # what the parameter is, in words
    url: str | None = None


@dataclass(frozen=True)
class Spec:
    named: bool
    header_type: str | None
    header_params: tuple[str, ...]  # placeholders of a TEXT header
    body_params: tuple[str, ...]
    body_examples: tuple[str, ...]
    buttons: tuple[Button, ...]
    unsupported: str | None  # why OmniStream cannot send this template, if it cannot

    @property
    def header_needs(self) -> bool:
        return self.header_type in (*MEDIA_HEADERS, "LOCATION") or bool(self.header_params)


# Components and buttons whose parameters are products, carousels or offers: not sendable
# from the inbox (they need catalogue data, not an agent's text).
UNSUPPORTED_COMPONENTS = frozenset({"CAROUSEL", "LIMITED_TIME_OFFER"})
UNSUPPORTED_BUTTONS = frozenset({"CATALOG", "MPM", "SPM"})


def _button(index: int, raw: Mapping[str, Any]) -> Button:
    kind = str(raw.get("type", "")).upper()
    text = str(raw.get("text") or "")
    url = raw.get("url") if isinstance(raw.get("url"), str) else None
    if kind == "QUICK_REPLY":  # without a parameter Meta reports the button's text back
        return Button(index, kind, text, "quick_reply", "optional", "payload")
    if kind == "URL" and url and PLACEHOLDER.search(url):
        return Button(index, kind, text, "url", "required", "URL suffix", url)
    if kind == "OTP" or (kind == "URL" and not url):
        # Authentication templates' copy-code / one-tap button is sent as a url button
        # carrying the code (some listings show it as a URL button without a url).
        return Button(index, kind, text, "url", "required", "one-time code", url)
    if kind == "COPY_CODE":
        return Button(index, kind, text or "Copy code", "copy_code", "required", "coupon code")
    if kind == "FLOW":
        return Button(index, kind, text, "flow", "optional", "flow token")
    return Button(index, kind, text, None, "none", None, url)  # URL (static), PHONE_NUMBER, ...


def spec_of(components_json: Any, parameter_format: str) -> Spec:
    components = _components(components_json)
    header = component(components, "HEADER")
    header_type = str(header.get("format", "TEXT")).upper() if header else None
    body = component(components, "BODY")
    examples: tuple[str, ...] = ()
    example = (body or {}).get("example") or {}
    if isinstance(example, Mapping):
        rows = example.get("body_text")
        named = example.get("body_text_named_params")
        if isinstance(rows, list) and rows and isinstance(rows[0], list):
            examples = tuple(str(v) for v in rows[0])
        elif isinstance(named, list):
            examples = tuple(str(p.get("example", "")) for p in named if isinstance(p, Mapping))
    raw_buttons = (component(components, "BUTTONS") or {}).get("buttons")
    buttons = tuple(
        _button(i, b) for i, b in enumerate(raw_buttons or []) if isinstance(b, Mapping)
    )
    unsupported = None
    kinds = {str(c.get("type", "")).upper() for c in components}
    if kinds & UNSUPPORTED_COMPONENTS:
        unsupported = f"it has a {sorted(kinds & UNSUPPORTED_COMPONENTS)[0].lower()} component"
    elif bad := [b for b in buttons if b.type in UNSUPPORTED_BUTTONS]:
        unsupported = f"button {bad[0].index} is a {bad[0].type.lower()} button"
    elif header_type is not None and header_type not in HEADER_FORMATS:
        unsupported = f"its header is a {header_type.lower()}"
    return Spec(
        named=parameter_format == "NAMED",
        header_type=header_type,
        header_params=tuple(placeholders(_text(header) or "")) if header_type == "TEXT" else (),
        body_params=tuple(placeholders(_text(body) or "")),
        body_examples=examples,
        buttons=buttons,
        unsupported=unsupported,
    )


def shown(name: str) -> str:
    return "{{" + name + "}}"
