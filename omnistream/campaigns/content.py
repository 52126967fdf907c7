"""A campaign's template variables: checked against the template, and filled in per
recipient into the stored content of a template send (templates/sending.py). Pure.

Variable names: the body's placeholders ('1', '2' for positional templates, 'order_id' for
named ones), 'header' for a text header's placeholder, 'button.<index>' for a button's
parameter. Each is {"value": fixed text} or {"column": a recipient column}; the column
`name` falls back to the recipient's name and `phone` to their number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from omnistream.kit.errors import AppError, Unprocessable
from omnistream.templates.components import Spec, shown, spec_of
from omnistream.templates.schemas import ButtonValue, HeaderValue, TemplateValues
from omnistream.templates.sending import content_of

HEADER = "header"
BUTTON = "button."
SAMPLE = "sample"  # a column's stand-in when checking the mapping without a recipient


def names_of(spec: Spec) -> dict[str, bool]:
    """Every variable the template takes -> whether it must be given."""
    names: dict[str, bool] = dict.fromkeys(spec.body_params, True)
    if spec.header_params:
        names[HEADER] = True
    for button in spec.buttons:
        if button.sub_type is not None and button.parameter != "none":
            names[f"{BUTTON}{button.index}"] = button.parameter == "required"
    return names


def check(
    template: asyncpg.Record,
    variables: Mapping[str, Mapping[str, str]],
    header: Mapping[str, Any] | None,
    columns: list[str] | None = None,
) -> None:
    """422 naming `variables.<name>` for a variable missing, unknown, or read from a column
    the audience does not have (`columns`, once there is an audience); then the template's
    own checks with sample values (templates/sending.py)."""
    spec = spec_of(template["components_json"], template["parameter_format"])
    names = names_of(spec)
    errors: list[dict[str, Any]] = []
    for name, required in names.items():
        if required and name not in variables:
            message = f"missing: the value of {_label(name)}"
            errors.append(
                {"field": f"variables.{name}", "message": message, "type": "variable_missing",
                 "variable": name}
            )  # fmt: skip
    for name, source in variables.items():
        if name not in names:
            takes = ", ".join(names) or "none"
            message = f"the template has no variable {name!r} (it takes: {takes})"
            errors.append(
                {"field": f"variables.{name}", "message": message, "type": "variable_unknown",
                 "variable": name, "variables": list(names)}
            )  # fmt: skip
        elif columns is not None and source.get("column") and source["column"] not in columns:
            message = (
                f"column {source['column']!r} is not in the audience (it has: "
                f"{', '.join(columns)}); upload the audience again with it"
            )
            errors.append(
                {"field": f"variables.{name}", "message": message, "type": "variable_column",
                 "variable": name, "column": source["column"], "columns": list(columns)}
            )  # fmt: skip
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    render(template, variables, header, {}, sample=True)


def _label(name: str) -> str:
    if name == HEADER:
        return "the header's placeholder"
    if name.startswith(BUTTON):
        return f"button {name.removeprefix(BUTTON)}'s parameter"
    return shown(name)


def _value(source: Mapping[str, str], row: Mapping[str, str], sample: bool) -> str:
    if "value" in source and source["value"] is not None:
        return source["value"]
    column = source.get("column") or ""
    found = row.get(column)
    if found is None and sample:
        return row.get(SAMPLE, f"[{column}]")
    return found or ""


def render(
    template: asyncpg.Record,
    variables: Mapping[str, Mapping[str, str]],
    header: Mapping[str, Any] | None,
    row: Mapping[str, str],
    *,
    sample: bool = False,
) -> dict[str, Any]:
    """The stored content of this recipient's send (`row`: their columns), or 422 with the
    template's reason (fields renamed to the variables they come from)."""
    spec = spec_of(template["components_json"], template["parameter_format"])
    filled = {n: _value(s, row, sample) for n, s in variables.items()}
    body_names = [n for n in spec.body_params if n in filled]
    body: list[str] | dict[str, str] | None = None
    if body_names:
        body = (
            {n: filled[n] for n in body_names}
            if spec.named
            else [filled[n] for n in spec.body_params if n in filled]
        )
    head: HeaderValue | None = None
    if header is not None:
        head = HeaderValue.model_validate(header)
    elif HEADER in filled:
        head = HeaderValue(type="text", text=filled[HEADER][:60] or None)
    buttons = [
        ButtonValue.model_validate(
            {"index": b.index, "sub_type": b.sub_type, "parameter": filled[f"{BUTTON}{b.index}"]}
        )
        for b in spec.buttons
        if f"{BUTTON}{b.index}" in filled and b.sub_type is not None
    ]
    try:
        values = TemplateValues(header=head, body=body, buttons=buttons or None)
        return content_of(template, values)
    except AppError as exc:
        raise _renamed(exc, spec) from None
    except ValueError as exc:  # pydantic: a value WhatsApp would refuse (blank, too long)
        raise Unprocessable.field(
            "variables", f"a value does not fit the template: {exc}"
        ) from None


def _renamed(exc: AppError, spec: Spec) -> AppError:
    """The template check's fields (template.parameters.body.1) as variables.<name>."""
    errors = []
    for error in exc.errors or []:
        field = str(error.get("field", ""))
        rest = field.removeprefix("template.parameters.")
        if rest.startswith("body."):
            key = rest.removeprefix("body.")
            if key.isdigit() and not spec.named and int(key) < len(spec.body_params):
                key = spec.body_params[int(key)]
            field = f"variables.{key}"
        elif rest.startswith("header"):
            field = "header" if not spec.header_params else f"variables.{HEADER}"
        elif rest.startswith("buttons"):
            field = "variables"
        errors.append({**error, "field": field})
    if errors:
        return Unprocessable(exc.detail, errors=errors)
    return exc
