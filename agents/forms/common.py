"""Pieces the agents forms share: slugs, JSON in a textarea, secret choices."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from agents import selectors
from controlroom import jsondata

SLUG_HELP = "Lower-case letters, digits and '-'. Flows refer to it; it cannot change later."
SLUG_RE = r"^[a-z0-9][a-z0-9-]*$"


class JsonTextField(forms.JSONField):
    """JSON in a monospace textarea, shown indented. A blank box means ``empty``."""

    def __init__(self, *, empty: Any = None, rows: int = 6, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "widget",
            forms.Textarea(attrs={"rows": rows, "class": "code-input", "spellcheck": "false"}),
        )
        super().__init__(**kwargs)
        self.empty = empty

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if value in self.empty_values:
            return self.empty
        if not isinstance(value, str):
            return value
        try:
            return jsondata.json_parse(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                code="invalid",
            ) from None
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}", code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        return initial if self.disabled else data  # what the user typed, shown back as typed

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        if value in (None, {}, []):
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False)


def slug_validator() -> RegexValidator:
    return RegexValidator(
        SLUG_RE, "Use lower-case letters, digits and '-', starting with a letter or digit."
    )


def secret_choices() -> list[tuple[str, str]]:
    return [("", "— none —"), *((s.name, s.name) for s in selectors.secret_list())]
