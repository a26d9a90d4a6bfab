"""The templates gallery at ``/flows/new/``: what each template does, and the unsaved copy a
designer starts from.

A template is a demo flow document (``flows.demo``) or the blank canvas. Starting from one
needs no choice: the copy takes the template's name and the template's slug, made unique among
existing flows (``-2``, ``-3``…). A designer who chooses a name or a slug gets exactly that, or
a ``GalleryError`` saying what is wrong with it. Nothing is written: the flow exists from the
editor's first save.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.text import slugify

from flows.demo import demo_documents
from flows.document_schema import SCHEMA_ID, SLUG_PATTERN
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import NodeType
from flows.models import Flow

BLANK = "blank"
#: What a node of a type no longer known counts as on a card: no agent, no person.
_PLAIN = NodeType()
BLANK_NAME = "Untitled flow"
SLUG_MAX = 80
_SLUG = re.compile(SLUG_PATTERN)
# Candidate slugs looked up per query while looking for a free one.
_BATCH = 20
TRIGGER_LABELS = {
    "manual": "Manual trigger",
    "webhook": "Webhook trigger",
    "schedule": "Scheduled",
    "form": "Form trigger",
    "event": "Event trigger",
}


class GalleryError(ValueError):
    """The designer's choice cannot start a flow; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class TemplateCard:
    """What a gallery card says about a template, in a few words each."""

    slug: str
    name: str
    description: str
    trigger: str
    agents: int
    steps: int
    #: "approval" (a person reviews before it acts), "escalation" (a person decides only when
    #: a loop or a vote cannot), or "" (no person in the loop).
    human: str
    #: The outcome metric its results are measured by, in words ("ticket resolved").
    outcome: str


def templates() -> dict[str, dict[str, Any]]:
    """Every template document by slug, in the gallery's order (by name)."""
    documents = sorted(demo_documents(), key=lambda document: str(document["name"]).lower())
    return {document["slug"]: document for document in documents}


def template_card(document: dict[str, Any]) -> TemplateCard:
    nodes = [n for n in document.get("nodes", []) if isinstance(n, dict)]
    trigger = (document.get("trigger") or {}).get("type", "manual")
    agents = {slug for n in nodes for slug in _kind(n).agent_refs(_config(n))}
    return TemplateCard(
        slug=document["slug"],
        name=document["name"],
        description=document.get("description", ""),
        trigger=TRIGGER_LABELS.get(trigger, f"{trigger.capitalize()} trigger"),
        agents=len(agents),
        steps=len(nodes),
        human=_human_step(nodes),
        outcome=_outcome(document).replace("_", " "),
    )


def template_cards(documents: Iterable[dict[str, Any]]) -> list[TemplateCard]:
    return [template_card(document) for document in documents]


def _human_step(nodes: list[dict[str, Any]]) -> str:
    """``approval`` when a person reviews each case somewhere in the flow, else
    ``escalation`` when one decides only when a node cannot (``NodeType.human_role``)."""
    roles = {_kind(n).human_role(_config(n)) for n in nodes}
    return next((role for role in ("approval", "escalation") if role in roles), "")


def _kind(node: dict[str, Any]) -> NodeType:
    """The node's type; the defaults for a type no longer known."""
    return REGISTRY.get(str(node.get("type")), _PLAIN)


def _config(node: dict[str, Any]) -> dict[str, Any]:
    config = node.get("config")
    return config if isinstance(config, dict) else {}


def _outcome(document: dict[str, Any]) -> str:
    for block, key in (("feedback", "outcome"), ("roi", "success_outcome")):
        value = (document.get(block) or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def slug_unique(*, base: str) -> str:
    """``base`` when no flow has it, else the first free of ``base-2``, ``base-3``… (``base``
    shortened so the number fits the 80 characters of a slug). ``base`` must be a valid slug.
    A read, not a reservation: two designers may be offered the same slug, and the second save
    is then refused."""
    for start in itertools.count(1, _BATCH):
        candidates = [_numbered(base, number) for number in range(start, start + _BATCH)]
        taken = set(Flow.objects.filter(slug__in=candidates).values_list("slug", flat=True))
        for candidate in candidates:
            if candidate not in taken:
                return candidate
    raise AssertionError("unreachable: itertools.count never ends")


def _numbered(base: str, number: int) -> str:
    if number == 1:
        return base
    suffix = f"-{number}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def template_start(*, template: str, name: str = "", slug: str = "") -> dict[str, Any]:
    """The unsaved document a designer starts from: a copy of ``template`` (a template slug or
    ``BLANK``) named ``name`` under ``slug``. An empty ``name`` is the template's name; an
    empty ``slug`` is made from a chosen name, else it is the template's slug, and is made
    unique.
    A chosen slug is taken as it is: malformed (400) or already a flow's (409) is a
    ``GalleryError``; so is an unknown template (400)."""
    documents = templates()
    if template != BLANK and template not in documents:
        raise GalleryError(f"There is no template {template!r}: choose one from the gallery.")
    source = documents.get(template)
    chosen_name = name.strip()
    name = chosen_name or (str(source["name"]) if source else BLANK_NAME)
    slug = slug.strip()
    if slug:
        if not _SLUG.fullmatch(slug):
            raise GalleryError(
                f"The slug {slug!r} takes lower-case letters, digits and hyphens "
                f"(at most {SLUG_MAX}, starting with a letter or digit)."
            )
        if Flow.objects.filter(slug=slug).exists():
            raise GalleryError(f"A flow with the slug {slug!r} exists already.", status=409)
    else:
        from_name = slugify(chosen_name).replace("_", "-")[:SLUG_MAX].strip("-")
        fallback = source["slug"] if source else slugify(BLANK_NAME)
        base = from_name if _SLUG.fullmatch(from_name) else fallback
        slug = slug_unique(base=base)
    if source is None:
        return blank_document(slug=slug, name=name)
    return {**copy.deepcopy(source), "slug": slug, "name": name}


def blank_document(*, slug: str, name: str) -> dict[str, Any]:
    """An empty canvas with a manual trigger (not valid to save until it has a node)."""
    return {
        "schema": SCHEMA_ID,
        "slug": slug,
        "name": name,
        "trigger": {"type": "manual"},
        "nodes": [],
        "edges": [],
    }
