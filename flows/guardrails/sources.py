"""Which policies a run is under: the enabled ``Policy`` rows (global, or scoped to its flow,
one of its agents or one of its tools) plus its flow document's ``policies[]``, which are scoped
to that flow. ``agents.policies.evaluate`` filters them by scope at each point."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.models import Policy
from agents.policies import PolicyLike, PolicySpec


def document_policies(
    document: dict[str, Any], *, flow_slug: str, stored: Iterable[PolicyLike] = ()
) -> list[PolicySpec]:
    """A flow document's ``policies[]`` (validated on save) as flow-scoped specs. A policy
    without a ``slug`` is named after its place: ``<flow>#<n>``; so is one whose slug a
    ``stored`` policy took after the document was saved, so that it never shares (and
    overwrites) the stored one's rate-limit count or verdict name."""
    taken = {policy.slug for policy in stored}
    specs = []
    for index, entry in enumerate(document.get("policies") or []):
        if not isinstance(entry, dict):
            continue
        slug = str(entry.get("slug") or "")
        specs.append(
            PolicySpec(
                slug=slug if slug and slug not in taken else f"{flow_slug}#{index + 1}",
                kind=str(entry.get("kind", "")),
                verdict=str(entry.get("verdict", "block")),
                reason=str(entry.get("reason", "")),
                config=entry.get("config") or {},
                scope="flow",
                target=flow_slug,
            )
        )
    return specs


def policies_for(*, flow_slug: str, document: dict[str, Any]) -> list[PolicyLike]:
    """Every policy that may apply in a run of this flow version (one query)."""
    rows: list[PolicyLike] = list(Policy.objects.filter(enabled=True).order_by("slug"))
    return rows + list(document_policies(document, flow_slug=flow_slug, stored=rows))
