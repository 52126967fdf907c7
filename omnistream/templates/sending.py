"""A template send's parameters checked against the template's components, before Meta is
called, and turned into the stored message content. Pure: no SQL, no I/O.

Every mismatch is collected and answered at once (422, one `errors[]` entry each, the field
naming the missing or extra parameter): count, named vs positional, header media type,
button index and sub_type. What Meta checks beyond that (e.g. that a link can be fetched)
still fails the send later with Meta's reason.

The stored content (messages.content of a `template` message) is what the WhatsApp adapter
turns into Meta's template object (channels/whatsapp/outbound.py):
    {"template_id", "name", "language", "category", "text": the body rendered,
     "header_text"?, "footer"?, "header"?: {"type": "image", "link"} | {"type": "text",
     "text", "parameter_name"?} | ..., "body"?: [{"text", "parameter_name"?}],
     "buttons"?: [{"index", "sub_type", "parameter"}]}
"""

from __future__ import annotations

from typing import Any

import asyncpg

from omnistream.kit.errors import Unprocessable
from omnistream.kit.links import link_problem
from omnistream.templates.components import Button, Spec, component, render, shown, spec_of
from omnistream.templates.schemas import ButtonValue, HeaderValue, TemplateValues

BODY_MAX = 1024  # WhatsApp's limit of a template body once the parameters are filled in
PREFIX = "template.parameters."
_ARTICLE = {
    "text": "a text",
    "image": "an image",
    "video": "a video",
    "document": "a document",
    "location": "a location",
}


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str, kind: str | None = None) -> None:
        item = {"field": PREFIX + field, "message": message}
        self.items.append(item if kind is None else {**item, "type": kind})


def _plain(text: str) -> str | None:
    """Why WhatsApp would refuse this text as a parameter, if it would."""
    if not text.strip():
        return "must not be blank"
    if "\n" in text or "\t" in text or "     " in text:
        return "may not contain new lines, tabs or more than 4 consecutive spaces (WhatsApp)"
    return None


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(shown(n) for n in names) if names else "none"


def _header(
    spec: Spec, given: HeaderValue | None, named: bool, errors: _Errors
) -> dict[str, Any] | None:
    kind = (spec.header_type or "").lower()
    if not spec.header_needs:
        if given is not None:
            what = "has no header" if spec.header_type is None else "has a fixed text header"
            errors.add("header", f"extra: the template {what}; it takes no header parameter")
        return None
    if given is None:
        wanted = {"text": "{type: text, text}", "location": "{type: location, latitude, longitude}"}
        shape = wanted.get(kind, f"{{type: {kind}, link}}")
        errors.add("header", f"missing: the template's header is {kind}: give {shape}")
        return None
    if given.type != kind:
        errors.add("header.type", f"the template's header is {kind}, not {given.type}")
        return None
    allowed = {
        "text": {"text"},
        "location": {"latitude", "longitude", "name", "address"},
        "document": {"link", "filename"},
    }.get(kind, {"link"})
    for name in ("text", "link", "filename", "latitude", "longitude", "name", "address"):
        if name not in allowed and getattr(given, name) is not None:
            errors.add(f"header.{name}", f"extra: not used by {_ARTICLE.get(kind, kind)} header")
    if kind == "text":
        if given.text is None:
            errors.add("header.text", f"missing: the value of {shown(spec.header_params[0])}")
            return None
        if problem := _plain(given.text):
            errors.add("header.text", problem)
        out: dict[str, Any] = {"type": "text", "text": given.text}
        if named:
            out["parameter_name"] = spec.header_params[0]
        return out
    if kind == "location":
        if given.latitude is None or given.longitude is None:
            errors.add("header.latitude", "missing: a location header needs latitude and longitude")
            return None
        extra = {k: getattr(given, k) for k in ("name", "address") if getattr(given, k)}
        return {
            "type": "location",
            "latitude": given.latitude,
            "longitude": given.longitude,
            **extra,
        }
    if given.link is None:
        errors.add("header.link", f"missing: the public URL of the {kind}")
        return None
    if found := link_problem(given.link):
        errors.add("header.link", found[1], found[0])
        return None
    media: dict[str, Any] = {"type": kind, "link": given.link}
    if kind == "document" and given.filename:
        media["filename"] = given.filename
    return media


def _body(
    spec: Spec, given: list[str] | dict[str, str] | None, errors: _Errors
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """(the stored body parameters in the template's order, placeholder -> value)."""
    names = spec.body_params
    if spec.named and isinstance(given, list):
        if names or given:
            example = f'{{"{names[0]}": "…"}}' if names else "{}"
            errors.add(
                "body",
                f"the template uses named parameters ({_listed(names)}): give an object "
                f"such as {example}, not a list",
            )
        return [], {}
    if not spec.named and isinstance(given, dict):
        if names or given:
            errors.add(
                "body",
                f"the template uses positional parameters ({_listed(names)}): give a list, "
                "the value of {{1}} first, not an object",
            )
        return [], {}
    values: dict[str, str] = {}
    if isinstance(given, dict):
        for name in names:
            if name not in given:
                errors.add(f"body.{name}", f"missing: {shown(name)} needs a value")
        for key in given:
            if key not in names:
                errors.add(f"body.{key}", f"extra: the body has no {shown(key)} ({_listed(names)})")
        values = {n: given[n] for n in names if n in given}
    else:
        listed = given or []
        count = f"the body has {len(names)} parameter{'s' if len(names) != 1 else ''}"
        for i, name in enumerate(names[len(listed) :], start=len(listed)):
            errors.add(f"body.{i}", f"missing: a value for {shown(name)} ({count})")
        for i in range(len(names), len(listed)):
            errors.add(f"body.{i}", f"extra: {count} ({_listed(names)}), {len(listed)} given")
        values = dict(zip(names, listed, strict=False))
    for name, value in values.items():
        if problem := _plain(value):
            key = name if spec.named else str(names.index(name))
            errors.add(f"body.{key}", problem)
    stored = [
        {"text": values[n], **({"parameter_name": n} if spec.named else {})}
        for n in names
        if n in values
    ]
    return stored, values


def _describe(button: Button) -> str:
    return f"button {button.index} ({button.text or button.type.lower()})"


def _buttons(spec: Spec, given: list[ButtonValue], errors: _Errors) -> list[dict[str, Any]]:
    stored: dict[int, dict[str, Any]] = {}
    count = len(spec.buttons)
    has = f"it has buttons 0 to {count - 1}" if count else "it has no buttons"
    for k, value in enumerate(given):
        if value.index >= count:
            errors.add(f"buttons.{k}.index", f"the template has no button {value.index} ({has})")
            continue
        button = spec.buttons[value.index]
        if value.index in stored:
            errors.add(f"buttons.{k}.index", f"button {value.index} is given twice")
        elif button.parameter == "none":
            errors.add(
                f"buttons.{k}.index",
                f"extra: {_describe(button)} is a {button.type} button and takes no parameter",
            )
        elif value.sub_type != button.sub_type:
            errors.add(
                f"buttons.{k}.sub_type",
                f"{_describe(button)} is a {button.sub_type} button, not {value.sub_type}",
            )
        else:
            stored[value.index] = {
                "index": value.index,
                "sub_type": value.sub_type,
                "parameter": value.parameter,
            }
    for button in spec.buttons:
        if button.parameter == "required" and button.index not in stored:
            if any(v.index == button.index for v in given):
                continue  # already reported as wrong
            errors.add(
                "buttons",
                f"missing: {_describe(button)} needs its {button.takes} "
                f'({{"index": {button.index}, "sub_type": "{button.sub_type}", "parameter": …}})',
            )
    return [stored[i] for i in sorted(stored)]


def content_of(template: asyncpg.Record, values: TemplateValues) -> dict[str, Any]:
    """The stored content of a send of this template (a wa_templates row), or 422."""
    named = template["parameter_format"] == "NAMED"
    spec = spec_of(template["components_json"], template["parameter_format"])
    label = f"{template['name']} ({template['language']})"
    if spec.unsupported:
        raise Unprocessable.field(
            "template", f"{label} cannot be sent from OmniStream: {spec.unsupported}"
        )
    errors = _Errors()
    header = _header(spec, values.header, named, errors)
    body, filled = _body(spec, values.body, errors)
    buttons = _buttons(spec, values.buttons or [], errors)
    if errors.items:
        listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors.items)
        raise Unprocessable(
            f"the parameters do not fit template {label}: {listed}", errors=errors.items
        )
    text = render(template["body_text"], filled)
    if len(text) > BODY_MAX:
        raise Unprocessable.field(
            "template.parameters.body",
            f"the body would be {len(text)} characters with these values; WhatsApp allows "
            f"{BODY_MAX}",
        )
    content: dict[str, Any] = {
        "template_id": str(template["id"]),
        "name": template["name"],
        "language": template["language"],
        "category": template["category"],
        "text": text,
    }
    if spec.header_type == "TEXT":
        written = (component(list(template["components_json"]), "HEADER") or {}).get("text")
        value = header["text"] if header else ""
        content["header_text"] = render(
            str(written or ""), dict.fromkeys(spec.header_params, value)
        )
    if template["footer_text"]:
        content["footer"] = template["footer_text"]
    if header is not None:
        content["header"] = header
    if body:
        content["body"] = body
    if buttons:
        content["buttons"] = buttons
    return content
