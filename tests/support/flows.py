"""Building flow documents and driving runs in tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.engine import runner
from flows.models import Flow, Run, Step
from flows.states import RUN_TERMINAL
from flows.versions import flow_save, flow_version_publish
from tests.support.wait import wait_for


def document(
    slug: str,
    nodes: list[dict[str, Any]],
    edges: list[tuple[str, str] | dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """A minimal valid ``controlroom.flow/v1`` document."""
    return {
        "schema": "controlroom.flow/v1",
        "slug": slug,
        "name": slug.replace("-", " ").title(),
        "nodes": nodes,
        "edges": [
            edge if isinstance(edge, dict) else {"from": edge[0], "to": edge[1]} for edge in edges
        ],
        **extra,
    }


LAUNCH_READY: dict[str, Any] = {
    "trigger": {"type": "manual"},
    # Outcomes attach to runs by subject (empty when the input has no ``case_id``).
    "subject": "{{ input.case_id }}",
    "feedback": {"outcome": "task_done"},
    "roi": {"baseline_minutes": 10, "hourly_cost": 40, "success_outcome": "task_done"},
}


def launchable(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with what the launch checklist asks before publishing (a trigger, a feedback
    path and an ROI definition) filled in where it has none; its own blocks win."""
    return {**LAUNCH_READY, **doc}


def scripted(
    slug: str, *responses: Any, latency_ms: int = 0, output: str = "text", **extra: Any
) -> dict[str, Any]:
    """An inline scripted agent definition."""
    return {
        "slug": slug,
        "provider": "scripted",
        "output": output,
        "script": {"responses": list(responses), "latency_ms": latency_ms},
        **extra,
    }


def node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def save(doc: dict[str, Any]) -> Flow:
    flow, _ = flow_save(document=doc)
    return flow


def save_live(doc: dict[str, Any]) -> Flow:
    """Save ``doc`` (made ``launchable``) and publish it: triggers start live versions only."""
    flow, version = flow_save(document=launchable(doc))
    flow_version_publish(flow=flow, version=version)
    return flow


def drive(run: Run, *, decide: Callable[[Run], bool] | None = None, limit: int = 500) -> Run:
    """Execute a run's queued steps in this process until it ends or stalls (no Celery).

    For tests of scheduling semantics; durability is tested with real worker processes.
    ``decide`` is called when nothing is queued (e.g. to approve); it returns False to stop.
    """
    for _ in range(limit):
        run.refresh_from_db()
        if run.status in RUN_TERMINAL:
            return run
        queued = (
            Step.objects.filter(run_id__in=_family(run), status="queued").order_by("id").first()
        )
        if queued is not None:
            runner.step_execute(step_id=queued.id)
            continue
        if decide is None or not decide(run):
            return run
    raise AssertionError(f"run {run.id} did not settle in {limit} moves")


def _family(run: Run) -> list[Any]:
    """The run, its retries' runs sharing its root, and every subflow run below them."""
    ids = list(Run.objects.filter(root_run_id=run.root_run_id).values_list("id", flat=True))
    frontier = ids
    while frontier:
        frontier = list(
            Run.objects.filter(parent_step__run_id__in=frontier).values_list("id", flat=True)
        )
        ids += frontier
    return ids


def wait_terminal(run: Run, *, timeout: float = 60.0) -> Run:
    def done() -> Run | None:
        run.refresh_from_db()
        return run if run.status in RUN_TERMINAL else None

    return wait_for(done, timeout=timeout, message=f"run {run.id} to end (last: {run.status})")


def approve_all(user: Any) -> Callable[[Run], bool]:
    """A ``drive`` decider: ``user`` approves, as shown, each approval the run (or a subflow of
    it) waits on; False once none is pending."""
    from flows.approvals.decisions import Decision, approval_decide
    from flows.models import Approval

    def decide(run: Run) -> bool:
        pending = Approval.objects.filter(run_id__in=_family(run), status="pending").first()
        if pending is None:
            return False
        decision = Decision("approve", shown_hash=pending.shown_hash)
        approval_decide(approval_id=pending.id, user=user, decision=decision)
        return True

    return decide
