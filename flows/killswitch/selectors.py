"""Reads of the kill switch: whether a flow is switched off (for the engine's claims and for
resuming), and a switch as the pages and the API show it. No writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q

from flows.killswitch.models import GLOBAL_KEY, KillSwitch
from flows.models import Flow


@dataclass(frozen=True)
class SwitchState:
    """What pages and the API show: is everything paused, by whom, since when, why."""

    active: bool
    reason: str = ""
    changed_by: str = ""
    changed_at: Any = None


def switch_key(flow: Flow | None) -> str:
    """The ``KillSwitch.key`` of ``flow``'s switch (None: the global one)."""
    return GLOBAL_KEY if flow is None else f"flow:{flow.id}"


def engaged_q() -> Exists:
    """For a queryset of runs: True where the run's flow, or everything, is switched off.
    (``runner.step_claim`` claims only where this is False.)"""
    return Exists(
        KillSwitch.objects.filter(active=True).filter(
            Q(flow__isnull=True) | Q(flow_id=OuterRef("flow_id"))
        )
    )


def engaged(*, flow_id: int) -> bool:
    """Is flow ``flow_id`` switched off, by its own switch or the global one?"""
    return (
        KillSwitch.objects.filter(active=True)
        .filter(Q(flow__isnull=True) | Q(flow_id=flow_id))
        .exists()
    )


def state(*, flow: Flow | None = None) -> SwitchState:
    """The switch of ``flow`` (None: the global one) as stored; inactive if never thrown."""
    row = KillSwitch.objects.select_related("changed_by").filter(key=switch_key(flow)).first()
    if row is None:
        return SwitchState(active=False)
    return SwitchState(
        active=row.active,
        reason=row.reason,
        changed_by=row.changed_by.get_username() if row.changed_by else "",
        changed_at=row.changed_at,
    )


def paused_flow_slugs() -> list[str]:
    """The slugs of the flows paused on their own switch, sorted."""
    return sorted(
        KillSwitch.objects.filter(active=True, flow__isnull=False).values_list(
            "flow__slug", flat=True
        )
    )
