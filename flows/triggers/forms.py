"""Forms generated from a flow's ``input_schema``: the public form trigger and the logged-in
manual start use the same fields and the same coercion. Pure: no database, no requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlroom import jsondata

HONEYPOT = "website"
MAX_FIELDS = 50
MAX_VALUE_CHARS = 10_000


@dataclass
class FormField:
    name: str
    label: str
    widget: str  # text | email | url | number | checkbox | select | textarea | json
    required: bool = False
    help: str = ""
    choices: list[str] = field(default_factory=list)
    value: Any = ""
    error: str = ""

    @property
    def html_id(self) -> str:
        return f"input-{self.name}"


def fields_for(
    schema: Mapping[str, Any] | None, values: Mapping[str, Any] | None = None
) -> list[FormField]:
    """One field per top-level property of an object schema, in declared order."""
    schema = schema or {}
    required = set(schema.get("required") or [])
    values = values or {}
    result = []
    for name, spec in list((schema.get("properties") or {}).items())[:MAX_FIELDS]:
        spec = spec if isinstance(spec, dict) else {}
        result.append(
            FormField(
                name=name,
                label=str(spec.get("title") or name.replace("_", " ").capitalize()),
                widget=_widget(spec),
                required=name in required,
                help=str(spec.get("description") or ""),
                choices=[str(c) for c in spec.get("enum") or []],
                value=values.get(name, spec.get("default", "")),
            )
        )
    return result


def _widget(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    if spec.get("enum"):
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "string":
        fmt = spec.get("format")
        if fmt in ("email", "uri"):
            return "email" if fmt == "email" else "url"
        max_length = spec.get("maxLength")
        return "textarea" if isinstance(max_length, int) and max_length > 300 else "text"
    return "json" if kind in ("object", "array") else "text"


def coerce(
    schema: Mapping[str, Any] | None, post: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted strings turned into the schema's types: ``(data, errors by field)``.
    Empty optional fields are left out; the flow's schema check (in ``run_start``) follows."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in fields_for(schema):
        raw = post.get(item.name)
        spec = ((schema or {}).get("properties") or {}).get(item.name) or {}
        kind = spec.get("type") if isinstance(spec, dict) else None
        if item.widget == "checkbox":
            data[item.name] = raw in ("on", "true", "1")
            continue
        if raw is None or raw.strip() == "":
            if item.required:
                errors[item.name] = "This field is required."
            continue
        if len(raw) > MAX_VALUE_CHARS:
            errors[item.name] = f"At most {MAX_VALUE_CHARS} characters."
            continue
        try:
            data[item.name] = _typed(raw, kind=kind, widget=item.widget)
        except ValueError:
            errors[item.name] = "Not a valid value."
    return data, errors


def _typed(raw: str, *, kind: object, widget: str) -> Any:
    """The non-empty submitted string ``raw`` as the schema type ``kind`` (a ``json`` widget's
    value parsed, any other string stripped); ``ValueError`` when it is not one (a number must
    be finite)."""
    if kind == "integer":
        return int(raw)
    if kind == "number":
        number = float(raw)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError
        return number
    if widget == "json":
        return jsondata.json_parse(raw)
    return raw.strip()


def errors_from_details(details: list[dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """``run_start``'s pointer details (``/input/<field>/...``) as per-field messages, plus
    the messages no single field owns."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for detail in details:
        parts = detail.get("pointer", "").split("/")
        if len(parts) >= 3 and parts[1] == "input" and parts[2]:
            by_field.setdefault(parts[2], detail.get("message", ""))
        else:
            general.append(detail.get("message", ""))
    return by_field, general
