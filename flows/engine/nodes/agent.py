"""``agent``: an agent (its model, instructions, tools and cascade) acting on a prompt. Queued.

What the step stores (its prompt, tool calls and memory entry in ``Step.input``, a parked
step's prompt) holds the placeholders a PII redaction put in, never the values it kept from
the model (``StepGuard.at_rest``).

The agent may call its allowed tools over several model turns; each call is recorded as an
``agents.models.ToolCall`` of this step and attempt, keyed so that a retried step replays
effects from the ledger instead of repeating them. The step's usage is the model that gave the
accepted answer and the tokens and cost of every stage tried; the step's ``routing`` details
hold each stage's own model, tokens and cost, which ROI and the metrics bill per model
(``flows.roi.facts.step_usage_by_model``). A stage whose provider fails hands over to the next
stage; only the last stage's failure is the step's (``agents.runtime``). A failed attempt
is billed too: what its stages used travels with the step's error (``StepError.usage`` and
``routing`` in its details) and the engine adds it to the run (``flows.engine.runner``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agents import memory, runtime
from controlroom import expressions
from flows.engine.nodes.base import (
    ConfigProblem,
    DomainError,
    Done,
    Known,
    NodeContext,
    NodeType,
    Rejected,
    Requeue,
    TransientError,
    Usage,
    Wait,
)
from flows.engine.nodes.schema import object_schema

if TYPE_CHECKING:
    from flows.models import Run


class AgentNode(NodeType):
    type = "agent"
    title = "Agent"
    description = "Ask an agent (by slug) to act on a prompt; its answer is the step's output."
    queued = True
    default_max_attempts = 3
    # A policy may park its model call or a tool call for a person.
    waits_on_people = True
    calls_model = True
    is_action = True
    schema = object_schema(
        {
            "agent": {
                "type": "string",
                "minLength": 1,
                "title": "Agent",
                "description": "Which agent acts (its slug).",
            },
            "prompt": {
                "type": "string",
                "format": "template",
                "maxLength": 20000,
                "title": "Prompt",
                "description": "What to ask it; {{ input.name }} or {{ steps.<id>.output }} "
                "put in a value.",
            },
        },
        required=["agent"],
    )

    def reference_problems(self, config: dict[str, Any], known: Known) -> list[ConfigProblem]:
        slug = config["agent"]
        return [] if slug in known.agents else [(["agent"], f"unknown agent {slug!r}")]

    def agent_refs(self, config: dict[str, Any]) -> list[str]:
        return [str(config.get("agent"))]

    def queued_input(self, config: dict[str, Any], run: Run) -> dict[str, Any]:
        """The agent's definition as frozen with the run's version (its turn in the run,
        ``call_number``, is counted when the step is claimed)."""
        slug = str(config.get("agent", ""))
        return {"agent": slug, "agent_spec": (run.version.frozen_agents or {}).get(slug)}

    def claimed_input(
        self, step_input: dict[str, Any], config: dict[str, Any], agent_calls: Mapping[str, int]
    ) -> dict[str, Any]:
        """The scripted provider's turn (``call_number``): earlier successful calls of this
        agent in the run, unless a parked step already knows its own."""
        if "call_number" in step_input:
            return step_input
        return {**step_input, "call_number": agent_calls.get(str(config.get("agent", "")), 0)}

    def run(self, ctx: NodeContext) -> Done | Wait:
        from flows.guardrails import gates

        spec = ctx.step_input.get("agent_spec")
        if not isinstance(spec, dict):
            raise DomainError(f"agent {ctx.config.get('agent')!r} is not defined")
        prompt = ctx.render(ctx.config.get("prompt") or "{{ input | tojson }}")
        prompt = prompt if isinstance(prompt, str) else runtime.to_text(prompt)
        key, remembered = _recall(spec, ctx)
        variables = {**ctx.variables, "memory": remembered}
        slug = str(spec.get("slug", ""))
        guard = gates.step_guard(ctx, agent=slug, prompt=prompt)
        try:
            answer = runtime.agent_invoke(
                spec=spec,
                prompt=prompt,
                variables=variables,
                call_number=int(ctx.step_input.get("call_number", 0)),
                step=step_ref(ctx),
                guard=guard,
            )
        except runtime.PolicyParked as exc:
            return gates.parked(exc, agent=slug, extra={"prompt": guard.at_rest(prompt)})
        except runtime.AgentTransientError as exc:
            raise TransientError(
                str(exc), retry_after=exc.retry_after, **_spent(exc, guard.at_rest)
            ) from exc
        except runtime.AgentError as exc:
            raise DomainError(str(exc), **_spent(exc, guard.at_rest)) from exc
        usage = Usage(
            model=answer.model,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            cost=answer.cost,
        )
        if key is not None:
            memory.memory_remember(
                key=key,
                agent=str(spec.get("slug", "")),
                kind="answer",
                content=guard.at_rest(
                    {"node": ctx.node_id, "prompt": prompt[:2000], "answer": answer.output}
                ),
                run_id=_uuid(ctx.run_id),
                step_id=ctx.step_id or None,
            )
        # Stored as the model saw it: what a PII policy redacted stays redacted at rest (the
        # answer is the output, restored only if the policy says ``restore``).
        details = guard.at_rest(
            {
                "prompt": prompt,
                "memory_key": key,
                "memory": remembered,
                "routing": answer.routing,
                "tool_calls": answer.tool_calls,
            }
        )
        return Done(output=answer.output, usage=usage, details=details)

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done | Requeue:
        """A policy parked this step: approved, it runs again (and the approved call or
        answer passes); rejected, it fails (class ``rejected``) with the approver's reason."""
        return policy_resume(ctx, payload)


def policy_resume(ctx: NodeContext, payload: dict[str, Any]) -> Done | Requeue:
    """How an agent or tool step a policy parked goes on after the person's decision."""
    who = payload.get("decided_by") or "the system"
    if payload.get("decision") != "approved":
        reason = payload.get("reason") or "no reason given"
        raise Rejected(f"a policy gate was rejected by {who}: {reason}")
    gate = ctx.step_input.get("policy_gate") or {}
    if gate.get("key") == "output":  # the gated answer itself, as approved (or edited)
        return Done(output=payload.get("output"))
    return Requeue(reason=f"policy gate approved by {who}")


def _spent(error: runtime.AgentError, at_rest: Callable[[Any], Any]) -> dict[str, Any]:
    """What a failed invocation used, for the step's failure: its usage (every stage tried,
    at its own prices; the model of the last one tried), None when it used nothing, and its
    ``routing`` entries for the step page, which bill each stage to its own model
    (``flows.roi.facts``)."""
    routing = error.routing
    if not routing:
        return {}
    usage = Usage(model=str(routing[-1].get("model") or ""))
    for stage in routing:
        usage.tokens_in += int(stage.get("tokens_in") or 0)
        usage.tokens_out += int(stage.get("tokens_out") or 0)
        usage.cost += Decimal(str(stage.get("cost") or 0))
    spent = usage.tokens_in or usage.tokens_out or usage.cost
    return {"usage": usage if spent else None, "details": at_rest({"routing": routing})}


def _recall(spec: dict[str, Any], ctx: NodeContext) -> tuple[str | None, list[dict[str, Any]]]:
    """The agent's memory key for this run and what it remembers there, newest first.

    Memory is per subject across flows: a later run of any flow with the same key reads it.
    What this run wrote itself is not recalled (``agents.memory``: a run's own writes are not
    history).
    """
    try:
        key = memory.memory_key(
            scope_template=str(spec.get("memory_scope") or ""), variables=ctx.variables
        )
    except expressions.ExpressionError as exc:
        raise DomainError(str(exc)) from exc
    if not key:
        return key, []
    return key, memory.memory_recall(key=key, limit=5, exclude_run_id=_uuid(ctx.run_id))


def _uuid(value: str) -> Any:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def step_ref(ctx: NodeContext) -> runtime.StepRef:
    """Where the agent runs, for its tool calls' records and idempotency keys."""
    return runtime.StepRef(
        run_id=ctx.run_id,
        step_id=ctx.step_id,
        attempt=ctx.attempt,
        key=ctx.idempotency_key,
        subject=ctx.subject,
    )


NODE = AgentNode()
