"""Validating a flow document's ``policies[]``: each entry is a policy without scope (its
scope is the flow), checked like a stored one, with JSON pointers into the document.

A document adds policies to its flow; it never changes, disables or shadows a stored one (a
global one an admin made, say): an entry has no ``scope``, ``target`` or ``enabled``, and its
``slug`` may not be a stored policy's (``policy_slug_clashes``), because verdicts, audit rows
and rate-limit counts are keyed by slug."""

from __future__ import annotations

import re
from typing import Any

from agents.models import Policy
from agents.policies import KINDS, config_errors, verdict_errors

ENTRY_FIELDS = {"slug", "name", "kind", "verdict", "reason", "config"}
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")


def policy_problems(policies: Any) -> list[tuple[str, str]]:
    """``(pointer, message)`` for every problem in ``policies`` (the ``/policies`` array)."""
    if not isinstance(policies, list):
        return [("/policies", "must be a list of policies")]
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(policies):
        base = f"/policies/{index}"
        if not isinstance(entry, dict):
            problems.append((base, "a policy is an object with kind, verdict and config"))
            continue
        problems += _entry_problems(entry, base)
        slug = entry.get("slug")
        if isinstance(slug, str):
            if slug in seen:
                problems.append((f"{base}/slug", f"duplicate policy slug {slug!r}"))
            seen.add(slug)
    return problems


def _entry_problems(entry: dict[str, Any], base: str) -> list[tuple[str, str]]:
    problems = [
        (f"{base}/{key}", f"unknown field {key!r} (scope is the flow)")
        for key in sorted(set(entry) - ENTRY_FIELDS)
    ]
    kind = entry.get("kind")
    if kind not in KINDS:
        return [*problems, (f"{base}/kind", f"one of: {', '.join(KINDS)}")]
    if "slug" in entry and not (isinstance(entry["slug"], str) and SLUG.match(entry["slug"])):
        problems.append((f"{base}/slug", "letters, digits, - and _ (at most 80)"))
    for key in ("name", "reason"):
        if key in entry and not isinstance(entry[key], str):
            problems.append((f"{base}/{key}", "must be a string"))
    verdict = entry.get("verdict")
    if not isinstance(verdict, str):
        problems.append((f"{base}/verdict", "missing: allow, require_approval, block or redact"))
    else:
        problems += [(f"{base}/verdict", message) for _, message in verdict_errors(kind, verdict)]
    config = entry.get("config", {})
    for pointer, message in config_errors(kind, config):
        problems.append((f"{base}/config{'' if pointer == '/' else pointer}", message))
    return problems


def policy_slug_clashes(policies: Any) -> list[tuple[str, str]]:
    """``(pointer, message)`` for every entry of ``policies[]`` named like a stored policy
    (one query, only when an entry has a slug)."""
    if not isinstance(policies, list):
        return []
    named = {
        index: entry["slug"]
        for index, entry in enumerate(policies)
        if isinstance(entry, dict) and isinstance(entry.get("slug"), str)
    }
    if not named:
        return []
    stored = set(Policy.objects.filter(slug__in=named.values()).values_list("slug", flat=True))
    return [
        (
            f"/policies/{index}/slug",
            f"{slug!r} is the slug of a stored policy; a flow's policies add to the stored "
            "ones and cannot replace them: choose another slug",
        )
        for index, slug in named.items()
        if slug in stored
    ]
