"""Saving flow documents as immutable versions, publishing, exporting, comparing."""

from __future__ import annotations

import copy
import json
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agents import tools
from agents.audit import audit_record
from agents.models import Agent
from agents.runtime import agent_spec_from_model
from flows.document import InvalidDocument, Problem, document_problems
from flows.engine.nodes import REGISTRY
from flows.guardrails.document import policy_slug_clashes
from flows.launch import NotLaunchable, launch_check
from flows.models import Flow, FlowVersion
from flows.triggers.schedules import trigger_sync


def _known_agents() -> set[str]:
    return set(Agent.objects.filter(archived=False).values_list("slug", flat=True))


def document_check(document: Any) -> None:
    """Raise ``InvalidDocument`` with every problem of ``document``."""
    problems = document_problems(
        document, known_agents=_known_agents(), known_tools=tools.registry()
    )
    if not problems:
        problems = [Problem(p, m) for p, m in policy_slug_clashes(document.get("policies"))]
    if problems:
        raise InvalidDocument(problems)


def freeze_agents(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The agents a document uses, as they are now: inline definitions win over the table."""
    used = {
        slug
        for node in document["nodes"]
        for slug in REGISTRY[node["type"]].agent_refs(node.get("config") or {})
    }
    frozen = {
        agent.slug: agent_spec_from_model(agent)
        for agent in Agent.objects.filter(slug__in=used, archived=False)
    }
    for inline in document.get("agents", []):
        spec = {"provider": "scripted", "model": "scripted-1", "output": "text", **inline}
        frozen[inline["slug"]] = spec
    return frozen


class FlowExists(Exception):
    """``create_only`` was asked and a flow of that slug exists already."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"a flow with the slug {slug!r} exists already: choose another slug, or open that "
            "flow to change it"
        )
        self.slug = slug


def flow_save(
    *, document: Any, user: Any = None, create_only: bool = False
) -> tuple[Flow, FlowVersion]:
    """Validate ``document`` and store it as the next version of its flow (created if new).
    With ``create_only`` (a copy of a template, a new flow in the editor) an existing flow of
    that slug is never given the new version: ``FlowExists`` is raised instead."""
    document_check(document)
    document = copy.deepcopy(document)
    with transaction.atomic():
        flow, created = Flow.objects.select_for_update().get_or_create(
            slug=document["slug"],
            defaults={"name": document["name"], "owner": user if _real(user) else None},
        )
        if create_only and not created:
            raise FlowExists(flow.slug)
        flow.name = document["name"]
        flow.description = document.get("description", "")
        flow.save(update_fields=["name", "description", "updated_at"])
        number = (flow.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = FlowVersion.objects.create(
            flow=flow,
            number=number,
            document=document,
            frozen_agents=freeze_agents(document),
            created_by=user if _real(user) else None,
        )
        audit_record(
            kind="config",
            action="flow.saved",
            actor=user if _real(user) else None,
            subject=flow.slug,
            flow_slug=flow.slug,
            data={"version": number},
        )
    return flow, version


def flow_version_publish(*, flow: Flow, version: FlowVersion) -> FlowVersion:
    """Make ``version`` the live one: new runs use it; running ones keep theirs.

    Raises ``NotLaunchable`` (nothing changes) unless the version's document passes the
    Trigger -> Action -> Feedback -> ROI launch checklist."""
    launch_check(version.document)
    with transaction.atomic():
        before = Flow.objects.filter(id=flow.id).values_list("live_version__number", flat=True)
        previous = before.first()
        FlowVersion.objects.filter(id=version.id).update(published_at=timezone.now())
        Flow.objects.filter(id=flow.id).update(live_version=version)
        # Publishing an older version than the live one is a rollback.
        rollback = previous is not None and version.number < previous
        audit_record(
            kind="config",
            action="flow.rolled_back" if rollback else "flow.published",
            subject=flow.slug,
            flow_slug=flow.slug,
            data={"version": version.number, "previous": previous},
        )
        # The live version's trigger block decides how runs start (schedules, webhooks...).
        trigger_sync(flow=flow, version=version)
    flow.live_version = version
    return version


def flow_export(*, version: FlowVersion) -> dict[str, Any]:
    """The document exactly as saved (equal as data to what was imported)."""
    return copy.deepcopy(version.document)


# --- comparing two documents ----------------------------------------------------------------
# The sections of a document, in the order a diff lists them; keys not named here follow,
# sorted, so a key added to the schema later is never silently left out of a diff.
SCALAR_SECTIONS = ("name", "description", "subject", "slug", "schema")
OBJECT_SECTIONS = ("trigger", "feedback", "roi", "input_schema", "sample_input")
KEYED_SECTIONS = {"agents": "slug", "nodes": "id", "policies": "slug"}
SECTION_ORDER = (
    "name",
    "description",
    "subject",
    "trigger",
    "agents",
    "nodes",
    "edges",
    "policies",
    "feedback",
    "roi",
    "input_schema",
    "sample_input",
    "slug",
    "schema",
)
# A node's place on the canvas: moving a node is not a change of what the flow does.
NODE_LAYOUT_KEYS = frozenset({"position"})


def document_diff(*, before: Any, after: Any) -> dict[str, Any]:
    """What changed from document ``before`` to document ``after``, section by section.

    Pure and total: any JSON value is accepted (a section of the wrong shape compares as a
    whole value), nothing is raised, nothing is read from the database. The answer is
    ``{"changed": bool, "sections": [{"section", "changed", "changes": [...]}, ...]}`` with every
    section either document has, in ``SECTION_ORDER`` then sorted. A change is
    ``{"change": "added" | "removed" | "changed", "item": str, ...}``:

    - ``nodes`` (by ``id``), ``agents`` (by ``slug``), ``policies`` (by ``slug``, else by
      position ``#i``): ``item`` names the entry; a changed entry lists ``keys``, the dotted
      paths that differ (``config.prompt``, ``on_error``, ``type``). A node's ``position`` is
      layout, not a change.
    - ``edges``: an edge is its whole value (``from``, ``to``, ``on``, ``when``, ``label``), so a
      changed condition is one edge removed and one added; ``item`` reads ``a -> b`` and
      ``before`` / ``after`` hold the edge.
    - objects (``trigger``, ``feedback``, ``roi``, ``input_schema``, ``sample_input``): one
      change per differing dotted path, with ``before`` / ``after``.
    - scalars (``name``, ``description``, ``subject``...): one change with ``before`` /
      ``after``."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    present = set(old) | set(new)
    names = [s for s in SECTION_ORDER if s in present] + sorted(present - set(SECTION_ORDER))
    sections = []
    for name in names:
        changes = _section_changes(name, old.get(name), new.get(name))
        sections.append({"section": name, "changed": bool(changes), "changes": changes})
    return {"changed": any(s["changed"] for s in sections), "sections": sections}


def flow_version_diff(*, base: FlowVersion, document: Any) -> dict[str, Any]:
    """``document_diff`` from saved version ``base`` to ``document`` (another version's
    document, or a draft that was never saved), with ``base`` set to the version's number."""
    return {"base": base.number, **document_diff(before=base.document, after=document)}


def _section_changes(name: str, old: Any, new: Any) -> list[dict[str, Any]]:
    if _same(old, new):
        return []
    if name == "edges" and _both(list, old, new):
        return _edge_changes(old or [], new or [])
    if name in KEYED_SECTIONS and _both(list, old, new):
        ignore = NODE_LAYOUT_KEYS if name == "nodes" else frozenset()
        return _keyed_changes(old or [], new or [], key=KEYED_SECTIONS[name], ignore=ignore)
    if name not in SCALAR_SECTIONS and _both(dict, old, new):
        return [
            {"change": kind, "item": path, "before": a, "after": b}
            for path, kind, a, b in _paths(old or {}, new or {}, "")
        ]
    return [_whole(name, old, new)]


def _whole(item: str, old: Any, new: Any) -> dict[str, Any]:
    kind = "added" if old is None else "removed" if new is None else "changed"
    return {"change": kind, "item": item, "before": old, "after": new}


def _keyed_changes(
    old: list[Any], new: list[Any], *, key: str, ignore: frozenset[str]
) -> list[dict[str, Any]]:
    def by_key(items: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, item in enumerate(items):
            name = item.get(key) if isinstance(item, dict) else None
            out[name if isinstance(name, str) and name not in out else f"#{i}"] = item
        return out

    a, b = by_key(old), by_key(new)
    changes: list[dict[str, Any]] = [{"change": "added", "item": k} for k in b if k not in a]
    for k in a:
        if k not in b:
            changes.append({"change": "removed", "item": k})
            continue
        x, y = a[k], b[k]
        if isinstance(x, dict) and isinstance(y, dict):
            x = {f: v for f, v in x.items() if f not in ignore}
            y = {f: v for f, v in y.items() if f not in ignore}
            keys = [path for path, *_ in _paths(x, y, "")]
        else:
            keys = [] if _same(x, y) else [""]
        if keys:
            changes.append({"change": "changed", "item": k, "keys": keys})
    return changes


def _edge_changes(old: list[Any], new: list[Any]) -> list[dict[str, Any]]:
    # Edges have no identity but their value; a multiset difference keeps duplicates honest.
    remaining = [_canonical(e) for e in new]
    removed = []
    for edge in old:
        text = _canonical(edge)
        if text in remaining:
            remaining.remove(text)
        else:
            removed.append(edge)
    added = []
    left = [_canonical(e) for e in old]
    for edge in new:
        text = _canonical(edge)
        if text in left:
            left.remove(text)
        else:
            added.append(edge)
    return [
        {"change": "removed", "item": _edge_label(e), "before": e, "after": None} for e in removed
    ] + [{"change": "added", "item": _edge_label(e), "before": None, "after": e} for e in added]


def _edge_label(edge: Any) -> str:
    if not isinstance(edge, dict):
        return _canonical(edge)
    label = f"{edge.get('from')} -> {edge.get('to')}"
    if edge.get("on") not in (None, "success"):
        label += f" on {edge['on']}"
    if edge.get("when"):
        label += f" when {edge['when']}"
    return label


def _paths(
    old: dict[str, Any], new: dict[str, Any], prefix: str
) -> list[tuple[str, str, Any, Any]]:
    """(dotted path, added | removed | changed, before, after) for every differing leaf;
    objects are descended into, lists and scalars compared whole."""
    out: list[tuple[str, str, Any, Any]] = []
    for key in list(old) + [k for k in new if k not in old]:
        path = f"{prefix}{key}"
        if key not in new:
            out.append((path, "removed", old[key], None))
        elif key not in old:
            out.append((path, "added", None, new[key]))
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            out += _paths(old[key], new[key], f"{path}.")
        elif not _same(old[key], new[key]):
            out.append((path, "changed", old[key], new[key]))
    return out


def _both(kind: type, old: Any, new: Any) -> bool:
    return all(v is None or isinstance(v, kind) for v in (old, new))


def _same(a: Any, b: Any) -> bool:
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _real(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


__all__ = [
    "InvalidDocument",
    "NotLaunchable",
    "document_check",
    "document_diff",
    "flow_export",
    "flow_save",
    "flow_version_diff",
    "flow_version_publish",
]
