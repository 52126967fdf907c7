"""Message templates: the defaults, listing with Meta's cursor paging, and send checks."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlencode

from omnistream.sandbox.config import TemplateConfig
from omnistream.sandbox.errors import GraphError, invalid

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def default_templates() -> list[TemplateConfig]:
    """Eight templates covering each category, parameter format and status."""
    raw: list[dict[str, Any]] = [
        {
            "name": "hello_world",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {
                    "type": "BODY",
                    "text": "Welcome and congratulations!! This message demonstrates your "
                    "ability to send a WhatsApp message notification from the Cloud API.",
                },
                {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
            ],
        },
        {
            "name": "order_update",
            "components": [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Track"},
                        {"type": "URL", "text": "Open", "url": "https://example.com/o/{{1}}"},
                    ],
                },
            ],
        },
        {
            "name": "order_update",
            "language": "pt_BR",
            "components": [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} foi enviado."},
            ],
        },
        {
            "name": "welcome_offer",
            "category": "MARKETING",
            "parameter_format": "NAMED",
            "components": [
                {"type": "BODY", "text": "Hi {{name}}, enjoy {{discount}} off your next order!"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Yes please"},
                        {"type": "QUICK_REPLY", "text": "Stop promos"},
                    ],
                },
            ],
        },
        {
            "name": "login_code",
            "category": "AUTHENTICATION",
            "components": [
                {"type": "BODY", "text": "{{1}} is your verification code."},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Copy code"}]},
            ],
        },
        {
            "name": "summer_sale",
            "category": "MARKETING",
            "status": "PAUSED",
            "components": [{"type": "BODY", "text": "Summer sale: everything 20% off."}],
        },
        {
            "name": "old_promo",
            "category": "MARKETING",
            "status": "DISABLED",
            "components": [{"type": "BODY", "text": "This promo has ended."}],
        },
        {
            "name": "appointment_reminder",
            "status": "PENDING",
            "components": [{"type": "BODY", "text": "Reminder: {{1}} at {{2}}."}],
        },
    ]
    return [TemplateConfig.model_validate(t) for t in raw]


def as_graph(t: TemplateConfig) -> dict[str, Any]:
    return {
        "name": t.name,
        "parameter_format": t.parameter_format,
        "components": t.components,
        "language": t.language,
        "status": t.status,
        "category": t.category,
        "id": t.id,
    }


def _cursor(template_id: str) -> str:
    return base64.urlsafe_b64encode(template_id.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("Invalid cursor") from None


def page(templates: list[TemplateConfig], query: dict[str, str], base_url: str) -> dict[str, Any]:
    """One page of GET /{waba}/message_templates with Meta's before/after cursors."""
    items = sorted(templates, key=lambda t: int(t.id or 0))
    if name := query.get("name"):
        items = [t for t in items if name.lower() in t.name]
    for field in ("status", "category", "language"):
        if wanted := query.get(field):
            allowed = {v.strip() for v in wanted.split(",")}
            items = [t for t in items if getattr(t, field) in allowed]
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise invalid("Param limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"Param limit must be between 1 and {MAX_LIMIT}")
    ids = [t.id for t in items]
    start = 0
    if after := query.get("after"):
        key = _decode(after)
        start = ids.index(key) + 1 if key in ids else len(ids)
    elif before := query.get("before"):
        key = _decode(before)
        end = ids.index(key) if key in ids else 0
        start = max(0, end - limit)
    chunk = items[start : start + limit]
    body: dict[str, Any] = {"data": [as_graph(t) for t in chunk]}
    if not chunk:
        return body
    cursors = {"before": _cursor(chunk[0].id or ""), "after": _cursor(chunk[-1].id or "")}
    body["paging"] = {"cursors": cursors}
    params = {k: v for k, v in query.items() if k not in ("after", "before", "access_token")}
    params["limit"] = str(limit)
    if start + limit < len(items):
        body["paging"]["next"] = f"{base_url}?{urlencode({**params, 'after': cursors['after']})}"
    if start > 0:
        previous = {**params, "before": cursors["before"]}
        body["paging"]["previous"] = f"{base_url}?{urlencode(previous)}"
    return body


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def check_send(templates: list[TemplateConfig], spec: dict[str, Any]) -> TemplateConfig:
    """The template a send names, or the error Meta answers at once (132000/132001/...)."""
    name = spec.get("name")
    language = spec.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not name:
        raise invalid("The parameter template['name'] is required.")
    if not isinstance(code, str) or not code:
        raise invalid("The parameter template['language']['code'] is required.")
    found = next((t for t in templates if t.name == name and t.language == code), None)
    if found is None or found.status in ("PENDING", "REJECTED"):
        raise GraphError(
            132001, f"template name ({name}) does not exist in {code}", http_status=404
        )
    if found.status == "PAUSED":
        raise GraphError(132015, f"Template {name} is paused.")
    if found.status == "DISABLED":
        raise GraphError(132016, f"Template {name} is disabled.")
    components = spec.get("components") or []
    if not isinstance(components, list):
        raise invalid("Param template['components'] must be an array.")
    given: dict[str, list[Any]] = {}
    for comp in components:
        if not isinstance(comp, dict) or not isinstance(comp.get("type"), str):
            raise invalid("Each template component needs a type.")
        params = comp.get("parameters") or []
        if not isinstance(params, list):
            raise invalid("Param template['components'][]['parameters'] must be an array.")
        given.setdefault(comp["type"].lower(), []).extend(params)
    for comp in found.components:
        kind = str(comp.get("type", "")).lower()
        if kind == "body":
            expected = len(placeholders(str(comp.get("text", ""))))
        elif kind == "header":
            fmt = str(comp.get("format", "TEXT")).upper()
            expected = 1 if fmt != "TEXT" else len(placeholders(str(comp.get("text", ""))))
        else:
            continue
        got = len(given.get(kind, []))
        if got != expected:
            raise GraphError(
                132000, f"{kind} has {expected} parameter(s) in the template, {got} given"
            )
        if found.parameter_format == "NAMED" and kind == "body":
            names = set(placeholders(str(comp.get("text", ""))))
            passed = {p.get("parameter_name") for p in given.get(kind, []) if isinstance(p, dict)}
            if names != passed:
                raise GraphError(
                    132000,
                    f"body expects parameter_name {sorted(names)}, got {sorted(map(str, passed))}",
                )
    return found
