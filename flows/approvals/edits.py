"""What an approver changed: the text form of a draft, diffs, edit distance, tool-call forms.

Pure functions (the tool registry is the only thing read). Drafts are JSON data: a string (a
text draft), ``{"tool": name, "arguments": {...}}`` (an exact tool call) or any other JSON.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import jsonschema
from rapidfuzz.distance import Levenshtein

from agents import tools
from controlroom import jsondata
from flows.engine.nodes import join

#: A stored diff is cut here: the history keeps what changed, not whole documents.
MAX_DIFF_CHARS = 20_000


def as_text(value: Any) -> str:
    """The text an approver reads and edits: strings as they are, JSON indented."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def is_tool_call(draft: Any) -> bool:
    return (
        isinstance(draft, dict)
        and set(draft) == {"tool", "arguments"}
        and isinstance(draft["tool"], str)
        and isinstance(draft["arguments"], dict)
    )


def edit_distance(before: Any, after: Any) -> int:
    """The Levenshtein distance between ``before`` and ``after`` (their text forms): how many
    characters an approver inserted, deleted or replaced. ``rapidfuzz`` computes it
    bit-parallel (milliseconds for drafts of 10k characters, where ``difflib`` took
    seconds); callers still keep it out of locks (``decisions._edit_measured``)."""
    a, b = as_text(before), as_text(after)
    return 0 if a == b else int(Levenshtein.distance(a, b))


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same" | "removed" | "added" | "gap"
    text: str


def diff_lines(before: Any, after: Any, *, context: int = 3) -> list[DiffLine]:
    """A line diff of the agent's version against the edited one, for display (the template
    escapes every line)."""
    a, b = as_text(before).splitlines(), as_text(after).splitlines()
    lines: list[DiffLine] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", line) for line in a[i1:i2]]
                continue
            lines += [DiffLine("removed", line) for line in a[i1:i2]]
            lines += [DiffLine("added", line) for line in b[j1:j2]]
    return lines


def unified_diff(before: Any, after: Any) -> str:
    """The unified diff kept in the history, cut at ``MAX_DIFF_CHARS``."""
    text = "\n".join(
        difflib.unified_diff(
            as_text(before).splitlines(),
            as_text(after).splitlines(),
            "agent",
            "approved",
            lineterm="",
        )
    )
    if len(text) > MAX_DIFF_CHARS:
        return text[:MAX_DIFF_CHARS] + "\n… (diff cut)"
    return text


# --- tool calls --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgumentField:
    """One input of the form generated from a tool's argument schema."""

    name: str
    kind: str  # "text" | "textarea" | "number" | "integer" | "boolean" | "choice" | "json"
    label: str
    value: str
    checked: bool = False
    choices: tuple[str, ...] = ()
    required: bool = False
    help: str = ""


def tool_schema(tool: str) -> dict[str, Any] | None:
    """The argument schema of ``tool``, or None when the tool is unknown here."""
    try:
        from agents import tools

        return dict(tools.tool_get(tool).args_schema)
    except Exception:  # an unknown or unreachable tool: the JSON editor is the fallback
        return None


def argument_fields(draft: Any) -> list[ArgumentField] | None:
    """Form fields for a tool call's arguments, from the tool's schema; None when there is no
    schema to follow (the arguments are then edited as JSON)."""
    schema = tool_schema(draft["tool"])
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict) or not properties:
        return None
    required = set((schema or {}).get("required") or [])
    arguments = draft["arguments"]
    names = list(properties) + [name for name in arguments if name not in properties]
    return [
        _field(name, properties.get(name) or {}, arguments.get(name), name in required)
        for name in names
    ]


def _field(name: str, spec: dict[str, Any], value: Any, required: bool) -> ArgumentField:
    kind = spec.get("type")
    label = str(spec.get("title") or name)
    help_text = str(spec.get("description") or "")

    def field(kind: str, text: str, **extra: Any) -> ArgumentField:
        return ArgumentField(
            name=name,
            kind=kind,
            label=label,
            value=text,
            required=required,
            help=help_text,
            **extra,
        )

    if "enum" in spec and all(isinstance(item, str) for item in spec["enum"]):
        return field("choice", str(value or ""), choices=tuple(spec["enum"]))
    if kind == "boolean":
        return field("boolean", "", checked=bool(value))
    if kind in ("number", "integer"):
        return field(str(kind), "" if value is None else str(value))
    if kind == "string":
        text = "" if value is None else str(value)
        long = len(text) > 80 or "\n" in text or spec.get("maxLength", 0) > 500
        return field("textarea" if long else "text", text)
    return field("json", as_text(value) if value is not None else "")


class EditError(ValueError):
    """What the approver submitted cannot be the approved value."""


def arguments_from_form(draft: Any, fields: list[ArgumentField], form: Any) -> dict[str, Any]:
    """Rebuild a tool call's arguments from the generated form (``arg:<name>`` inputs)."""
    arguments: dict[str, Any] = {}
    for field in fields:
        key = f"arg:{field.name}"
        if field.kind == "boolean":
            arguments[field.name] = form.get(key) == "on"
            continue
        raw = str(form.get(key, "")).replace("\r\n", "\n").replace("\x00", "")
        if raw == "" and not field.required and field.name not in draft["arguments"]:
            continue
        arguments[field.name] = _parse(field, raw)
    return arguments


def _parse(field: ArgumentField, raw: str) -> Any:
    try:
        if field.kind == "integer":
            return int(raw)
        if field.kind == "number":
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        if field.kind == "json":
            return jsondata.json_parse(raw) if raw.strip() else None
    except ValueError:
        raise EditError(f"{field.label}: {raw!r} is not a valid {field.kind}") from None
    return raw


def check_edit(draft: Any, output: Any) -> None:
    """Refuse an edit that changes what kind of thing is approved: a tool call stays a call
    of the same tool, with arguments its schema and the tool's own checks accept; a vote tie
    (``flows.engine.nodes.join``) is decided for one of the tied values."""
    if join.is_tie_draft(draft):
        try:
            join.tie_choice(draft, output)
        except ValueError as exc:
            raise EditError(str(exc)) from None
        return
    if not is_tool_call(draft):
        return
    if not is_tool_call(output) or output["tool"] != draft["tool"]:
        raise EditError(f"only the arguments may change; the tool stays {draft['tool']!r}")
    schema = tool_schema(draft["tool"])
    if schema is None:
        return
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(output["arguments"]),
        key=lambda error: list(error.absolute_path),
    )
    if errors:
        where = "/".join(str(part) for part in errors[0].absolute_path) or "arguments"
        raise EditError(f"{where}: {errors[0].message}")
    try:
        # The registry's own checks too (send_email: one plain recipient, no header break).
        tools.tool_args_check(name=draft["tool"], args=output["arguments"])
    except tools.ToolError as exc:
        raise EditError(str(exc)) from None
