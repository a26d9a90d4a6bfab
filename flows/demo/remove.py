"""Removing the demo workspace's data in one command (``manage.py demo_remove``).

What goes: every flow marked ``demo`` with all it ran (versions, runs, steps, approvals, ROI
facts and rollups, triggers, outcomes attached to those runs or flows), what the agents side
keeps of those runs by id (tool calls, memory entries, outbox messages and the effects behind
them) and the demo approvers. What stays: the admin, the agents (templates in the gallery use
them), the knowledge bases, records the demo upserted, and the audit log (append-only; its
entries name the demo approvers and flows). `make run` then loads no demo until an explicit
``manage.py load_demo`` brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from agents.models import Effect, MemoryEntry, OutboxMessage, ToolCall
from controlroom.models import StartupStamp
from controlroom.startup import startup_stamp_record
from flows.demo import REMOVED_STAMP
from flows.demo.seed import APPROVERS, SEED_STAMP
from flows.models import Flow, Run
from flows.triggers.models import Outcome


@dataclass
class RemoveReport:
    flows: list[str]
    runs: int
    users: int


def demo_remove() -> RemoveReport:
    """Delete the demo's flows and everything they ran, in one transaction (see the module
    docstring); idempotent."""
    with transaction.atomic():
        flows = Flow.objects.filter(demo=True)
        slugs = sorted(flows.values_list("slug", flat=True))
        run_ids = list(Run.objects.filter(flow__in=flows).values_list("id", flat=True))
        roots = set(Run.objects.filter(id__in=run_ids).values_list("root_run_id", flat=True))
        _agents_side(run_ids, roots)
        Outcome.objects.filter(Q(run_id__in=run_ids) | Q(flow__in=flows)).delete()
        Run.objects.filter(id__in=run_ids).delete()  # runs protect the versions they ran
        flows.delete()
        approvers = get_user_model().objects.filter(username__in=APPROVERS)
        users = approvers.count()
        approvers.delete()
        StartupStamp.objects.filter(name=SEED_STAMP).delete()
        startup_stamp_record(name=REMOVED_STAMP, digest="removed")
    return RemoveReport(flows=slugs, runs=len(run_ids), users=users)


def _agents_side(run_ids: list[Any], roots: set[Any]) -> None:
    """The agents app keeps run ids by value (it never imports flows): delete by id."""
    OutboxMessage.objects.filter(run_id__in=run_ids).delete()
    ToolCall.objects.filter(run_id__in=run_ids).delete()
    MemoryEntry.objects.filter(run_id__in=run_ids).delete()
    for root in roots:  # effect keys start with the root run's id (agents.ledger)
        Effect.objects.filter(key__startswith=f"{root}:", message__isnull=True).delete()
