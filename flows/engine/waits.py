"""Steps that wait: approvals, timers, child runs and map items — parking and resuming them.

Every function runs inside the transaction of an ``Advance`` (the run row is locked), which
the caller passes in: this module sits below ``flows.engine.scheduler`` and does not import it
(a child run ending resumes its parent in ``scheduler.subflow_done``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from flows.engine import transitions
from flows.engine.hooks import HOOKS
from flows.engine.inputs import prepare_input
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import ApprovalRequest, StepError, Wait
from flows.guardrails.record import verdicts_link
from flows.models import Approval, Flow, FlowVersion, Step
from flows.scopes import map_item_scope, map_parent_scope
from flows.states import STEP_TERMINAL, ApprovalStatus, StepStatus

if TYPE_CHECKING:
    from flows.engine.scheduler import Advance


def shown_hash(title: str, draft: Any) -> str:
    """The hash of exactly what an approver is shown; a decision must quote it."""
    canonical = json.dumps({"title": title, "draft": draft}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def park(advance: Advance, step: Step, wait: Wait) -> None:
    """Move ``step`` to waiting and create what it waits on."""
    fields: dict[str, Any] = {"input": {**step.input, **wait.input}}
    if wait.due_at is not None:
        fields["due_at"] = wait.due_at
    if wait.map is not None:
        fields["input"].update({"items": wait.map.items, "concurrency": wait.map.concurrency})
    if not transitions.step_move(step, StepStatus.WAITING, **fields):
        return
    if wait.approval is not None:
        _create_approval(advance, step, wait.approval)
    elif wait.subflow is not None:
        _start_child(advance, step, wait)
    elif wait.map is not None:
        body = advance.graph.config(step.node_id)["body"]
        for index in range(min(wait.map.concurrency, len(wait.map.items))):
            _activate_item(advance, step, body, index)


def resume(advance: Advance, step: Step, payload: dict[str, Any]) -> None:
    """Continue a waiting step with ``payload`` (a decision, a child's result, map outputs)."""
    if step.status != StepStatus.WAITING:
        return
    node_type = REGISTRY[step.node_type]
    try:
        outcome = node_type.resume(advance.node_context(step), payload)
    except StepError as exc:
        advance.fail_step(step, exc.message, exc.error_class, usage=exc.usage, details=exc.details)
        return
    advance.apply(step, outcome)


# --- approvals -------------------------------------------------------------------------------
def _create_approval(advance: Advance, step: Step, request: ApprovalRequest) -> None:
    """Put the request in the inbox, or — earned autonomy turned on and this item not
    sampled — let it pass at once, recorded as ``auto_passed``."""
    now = timezone.now()
    deadline = (
        now + timedelta(minutes=request.deadline_minutes) if request.deadline_minutes else None
    )
    remind_at = None
    if deadline is not None and request.remind_before_minutes:
        remind_at = deadline - timedelta(minutes=request.remind_before_minutes)
    approval = transitions.approval_create(
        run=advance.run,
        step=step,
        title=request.title,
        instructions=request.instructions,
        draft=request.draft,
        reason=request.reason,
        assignee_role=request.assignee_role,
        shown_hash=shown_hash(request.title, request.draft),
        deadline_at=deadline,
        on_deadline=request.on_deadline,
        escalate_to=request.escalate_to,
        remind_at=remind_at,
        agent=request.agent,
        round=request.round,
        source=request.source,
    )
    if request.source == Approval.Source.POLICY:
        verdicts_link(step_id=step.id, call_key=request.policy_key, approval_id=approval.id)
    if not request.samplable:
        return
    sampling = HOOKS.approval_sampling(
        flow_id=advance.run.flow_id, node_id=step.node_id, agent=request.agent
    )
    if sampling is None:
        return
    if sampling.review:
        Approval.objects.filter(id=approval.id).update(sampled=True)
        approval.sampled = True
        return
    reason = f"earned autonomy: 1 in {sampling.one_in} is reviewed and this one was not sampled"
    transitions.approval_move(
        approval,
        ApprovalStatus.APPROVED,
        resolution=Approval.Resolution.AUTO_PASSED,
        decided_at=now,
        decision_output=request.draft,
        decision_reason=reason,
        data={"resolution": Approval.Resolution.AUTO_PASSED, "reason": reason},
    )
    resume(
        advance,
        step,
        {"decision": "approved", "output": request.draft, "reason": reason, "decided_by": None},
    )


# --- child runs --------------------------------------------------------------------------------
def _start_child(advance: Advance, step: Step, wait: Wait) -> None:
    request = wait.subflow
    assert request is not None
    flow = Flow.objects.filter(slug=request.flow).first()
    version = None
    if flow is not None:
        versions = FlowVersion.objects.filter(flow=flow)
        version = (
            versions.filter(number=request.version).first()
            if request.version
            else (flow.live_version or versions.order_by("-number").first())
        )
    if flow is None or version is None:
        advance.fail_step(step, f"subflow {request.flow!r} has no such flow or version", "domain")
        return
    # The child's idempotency root is derived from the parent's, so retrying the parent run
    # never repeats the child's side effects.
    root = uuid.uuid5(advance.run.root_run_id, f"{step.node_id}:{step.scope}")
    child_input, subject = prepare_input(version, request.input)
    child = transitions.run_create(
        flow=flow,
        version=version,
        input=child_input,
        subject=subject,
        parent_step=step,
        root_run_id=root,
        created_by=advance.run.created_by,
    )
    child.version = version
    advance.start_run(child)


# --- map items -----------------------------------------------------------------------------------
def _activate_item(advance: Advance, map_step: Step, body: str, index: int) -> None:
    advance.activate_later(
        body,
        map_item_scope(map_step.scope, map_step.node_id, index),
        previous_node=map_step.input.get("previous_node"),
        extra_input={"item": map_step.input["items"][index], "index": index},
    )


def map_item_done(advance: Advance, item_step: Step, map_node: str) -> None:
    """One item finished: start the next one, or gather all outputs and finish the map."""
    parent_scope = map_parent_scope(item_step.scope)
    map_step = Step.objects.filter(run=advance.run, node_id=map_node, scope=parent_scope).first()
    if map_step is None or map_step.status != StepStatus.WAITING:
        return
    items = map_step.input["items"]
    prefix = map_item_scope(parent_scope, map_node, 0)[: -len("0")]
    siblings = list(
        Step.objects.filter(
            run=advance.run, node_id=item_step.node_id, scope__startswith=prefix
        ).values_list("scope", "status", "output")
    )
    direct = [row for row in siblings if "/" not in row[0][len(prefix) :]]
    if len(direct) < len(items):
        _activate_item(advance, map_step, item_step.node_id, len(direct) + _queued(advance, prefix))
        return
    if any(status not in STEP_TERMINAL for _, status, _ in direct):
        return
    ordered = sorted(direct, key=lambda row: int(row[0][len(prefix) :]))
    resume(advance, map_step, {"outputs": [output for _, _, output in ordered]})


def _queued(advance: Advance, prefix: str) -> int:
    """Items activated earlier in this same transaction but not yet inserted."""
    return sum(1 for act in advance._work if act.scope.startswith(prefix))
