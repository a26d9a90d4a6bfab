"""The facts the policy simulator replays (``agents.policies.simulator``), gathered from what
runs recorded: their steps (with tokens and cost, prompts and outputs) and tool calls.

Each run becomes the moments the orchestrator asks its policies, in order: before each step
(limits), at the agent's model call (budgets, PII, agent turns; estimated at what it used),
at each tool call (approvals, rate limits, quiet hours, tool scopes) and on the agent's answer
(content rules, confidence). Which steps call a model, and which call a tool of their own, is
asked of their node types (``NodeType.calls_model``, ``NodeType.tool_call``). An agent's tool
calls are its recorded ``ToolCall`` rows; a tool node's call is its node's ``args`` rendered
again with the variables the step saw (the run's input and the outputs before it), as the
engine rendered them. Steps reused from an earlier
run and replayed tool calls made no new call, so they are not replayed again. Read-only: a few
queries per period, no locks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from agents import tools
from agents.models import ToolCall
from agents.policies import Facts, Spend
from agents.policies.simulator import Period, ReplayEvent, ReplayRun, replay_source_set
from agents.runtime import to_text
from controlroom import expressions
from flows.engine import context
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import NodeType
from flows.models import Run, Step
from flows.states import StepStatus

#: A step of a node type no longer known replays as a plain step (no model, no own call).
_PLAIN = NodeType()


def _loop_iteration(scope: str) -> int:
    """The highest loop iteration ``scope`` is inside (0 outside loops), as the engine's limit
    check reads it: map items (``@``) and send-back rounds (``~``) are not loops."""
    highest = 0
    for part in scope.split("/") if scope else []:
        name, _, number = part.partition("#")
        if number.isdigit() and not name.startswith(("@", "~")):
            highest = max(highest, int(number))
    return highest


def _confidence(output: Any) -> float | None:
    value = output.get("confidence") if isinstance(output, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _category(name: str, args: dict[str, Any]) -> str:
    try:
        return tools.tool_category(name=name, args=args)
    except tools.ToolError:
        return ""


class _RunFacts:
    """Builds one run's events; the outputs grow as its steps succeed (what templates and
    conditions see, resolved by scope as the engine does)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.outputs = context.Outputs()
        self.steps: dict[str, Any] = {}
        self.events: list[ReplayEvent] = []
        nodes = (run.version.document or {}).get("nodes") or []
        self.configs = {n.get("id"): n.get("config") or {} for n in nodes if isinstance(n, dict)}

    def _node_call(self, step: Step, node_type: NodeType) -> tuple[str, dict[str, Any]] | None:
        """The call a node makes itself (a tool node's), as the engine made it, or None if it
        makes none or it cannot be rebuilt."""
        call = node_type.tool_call(self.configs.get(step.node_id) or {})
        if call is None or step.started_at is None:
            return None
        name, template = call
        step_input = step.input if isinstance(step.input, dict) else {}
        variables = context.variables(
            run=self.run, scope=step.scope, outputs=self.outputs, step_input=step_input
        )
        try:
            args = expressions.render_value(template, variables)
        except expressions.ExpressionError:
            return None
        return (name, args) if isinstance(args, dict) else None

    def facts(self, point: str, now: datetime, **fields: Any) -> Facts:
        started = self.run.started_at
        return Facts(
            point=point,
            flow=self.run.flow.slug,
            subject=self.run.subject,
            input=dict(self.run.input or {}),
            steps=dict(self.steps),
            now=now,
            run_seconds=max(0.0, (now - started).total_seconds()) if started else 0.0,
            **fields,
        )

    def add_step(self, step: Step, index: int, calls: list[ToolCall]) -> None:
        where = f"at {step.node_id}"
        self.steps = self.outputs.visible(step.scope)
        activation = self.facts(
            "step", step.created_at, step_count=index, loop_iteration=_loop_iteration(step.scope)
        )
        self.events.append(ReplayEvent(activation, f"step {step.node_id}", step.id))
        spec = step.input.get("agent_spec") if isinstance(step.input, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        node_type = REGISTRY.get(step.node_type, _PLAIN)
        agent = str(spec.get("slug", "")) if node_type.calls_model else ""
        if node_type.calls_model and step.started_at is not None:
            texts = [str(spec.get("instructions") or ""), str(step.input.get("prompt") or "")]
            turns = len({call.turn for call in calls}) + 1
            facts = self.facts(
                "model_call",
                step.started_at,
                agent=agent,
                provider=str(spec.get("provider") or "scripted"),
                text="\n".join(text for text in texts if text),
                agent_turns=turns,
            )
            usage = Spend(tokens=step.tokens_in + step.tokens_out, cost=step.cost)
            label = f"model call by {agent or 'an agent'} {where}"
            self.events.append(ReplayEvent(facts, label, step.id, usage))
        for call in calls:
            facts = self.facts(
                "tool_call",
                call.created_at,
                agent=agent,
                tool=call.tool,
                category=call.category,
                args=call.arguments if isinstance(call.arguments, dict) else {},
            )
            self.events.append(ReplayEvent(facts, f"tool call {call.tool} {where}", step.id))
        node_call = self._node_call(step, node_type)
        if node_call is not None:
            name, args = node_call
            facts = self.facts(
                "tool_call", step.started_at or step.created_at,
                tool=name, category=_category(name, args), args=args,
            )  # fmt: skip
            self.events.append(ReplayEvent(facts, f"tool call {name} {where}", step.id))
        if node_type.calls_model and step.output is not None:
            facts = self.facts(
                "output",
                step.finished_at or step.started_at or step.created_at,
                agent=agent,
                text=to_text(step.output),
                confidence=_confidence(step.output),
            )
            self.events.append(ReplayEvent(facts, f"answer {where}", step.id))
        if step.status == StepStatus.SUCCEEDED:
            self.outputs.add(step.node_id, step.scope, step.id, step.output)


def replay_runs(period: Period, max_runs: int) -> tuple[list[ReplayRun], bool]:
    """The newest ``max_runs`` runs created in ``period`` (of ``period.flow`` when set) as
    replayable events, and whether the period held more."""
    found = Run.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
    if period.flow:
        found = found.filter(flow__slug=period.flow)
    runs = list(
        found.select_related("flow", "version").order_by("-created_at", "-id")[: max_runs + 1]
    )
    truncated = len(runs) > max_runs
    runs = runs[:max_runs]
    ids = [run.id for run in runs]
    steps: dict[Any, list[Step]] = defaultdict(list)
    for step in Step.objects.filter(run_id__in=ids).order_by("created_at", "id"):
        steps[step.run_id].append(step)
    calls: dict[int, list[ToolCall]] = defaultdict(list)
    for call in ToolCall.objects.filter(run_id__in=ids, replayed=False).order_by("created_at"):
        calls[call.step_id].append(call)
    replayed = []
    for run in runs:
        builder = _RunFacts(run)
        for index, step in enumerate(steps[run.id]):
            if step.reused_from_id is None:
                builder.add_step(step, index, calls.get(step.id, []))
        replayed.append(
            ReplayRun(
                run_id=str(run.id),
                flow=run.flow.slug,
                subject=run.subject,
                status=run.status,
                created_at=run.created_at,
                events=tuple(builder.events),
            )
        )
    return replayed, truncated


def replay_register() -> None:
    """Make this module the simulator's source of recorded runs (called at start-up)."""
    replay_source_set(replay_runs)
