"""``StepGuard``: the orchestrator's side of ``agents.runtime.guard.Guard`` for one execution
of one agent or tool step. It gathers facts, asks ``agents.policies.evaluate``, records the
verdicts, and acts: raise ``PolicyBlocked`` (nothing runs; the step fails with the reason),
raise ``PolicyParked`` (the step waits in the inbox), redact what leaves, reserve budget and
rate-limit capacity under database locks.

Approved parks are honoured on the step's next execution: a call whose key an approver
approved passes its ``require_approval`` verdicts (with the approver's edits); a block still
blocks. Effects already made replay from the ledger, so approving executes a call once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agents import tools
from agents.models import Effect
from agents.policies import (
    PERIODS,
    Decision,
    Facts,
    PolicyLike,
    Spend,
    applies,
    evaluate,
    pii_mask,
    strictest,
)
from agents.policies.config import config_errors_cached
from agents.policies.kinds import call_matches
from agents.providers import ModelRequest, ModelResponse
from agents.runtime import price, to_text
from agents.runtime.guard import Guard, ModelTicket, PolicyBlocked, PolicyParked, ToolPass
from flows.engine.nodes.base import Superseded
from flows.guardrails import gather, redaction
from flows.guardrails.models import BudgetReservation, PolicyVerdict
from flows.guardrails.record import verdicts_record
from flows.models import Approval
from flows.states import ApprovalStatus

CHARS_PER_TOKEN = 4


@dataclass
class Where:
    """Where a guard runs: the run, the step, the flow, the agent (or "" for a tool node)."""

    run_id: Any
    step_id: int
    flow: str
    subject: str
    policies: list[PolicyLike]
    agent: str = ""
    prompt: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    #: The step was parked by a policy before (an approval may hold edited arguments).
    parked: bool = False
    #: True once the execution this guard serves no longer owns its step.
    superseded: Callable[[], bool] = lambda: False
    #: The flow's id and the step's node: whose recent steps a budget estimate reads.
    flow_id: Any = None
    node_id: str = ""


def _valid(policy: PolicyLike) -> bool:
    return not config_errors_cached(policy.kind, policy.config)


class StepGuard(Guard):
    def __init__(self, where: Where) -> None:
        self.where = where
        self._reserved: set[str] = set()  # ledger rows this execution reserved (rate limits)
        self._approved: dict[str, Approval] = {}  # approvals honoured, by call key
        self._kept: dict[str, str] = {}  # value a redact verdict kept in -> its placeholder

    # --- facts and acting ------------------------------------------------------------------
    def _facts(self, point: str, **fields: Any) -> Facts:
        now = timezone.now()
        started = self.where.started_at
        return Facts(
            point=point,
            flow=self.where.flow,
            agent=self.where.agent,
            subject=self.where.subject,
            input=self.where.input,
            steps=self.where.steps,
            now=now,
            run_seconds=(now - started).total_seconds() if started else 0.0,
            **fields,
        )

    def _decide(self, facts: Facts, *, key: str, trigger: dict[str, Any]) -> list[Decision]:
        """Evaluate, honour an approval of ``key``, record; in the caller's transaction."""
        decisions = evaluate(self.where.policies, facts)
        gated = any(decision.verdict == "require_approval" for decision in decisions)
        approval = self.approval(key) if gated else None
        if approval is not None and approval.status == ApprovalStatus.APPROVED:
            self._approved[key] = approval
            who = approval.decided_by.get_username() if approval.decided_by else "the system"
            decisions = [
                replace(d, verdict="allow", reason=f"{d.reason}; approved by {who}")
                if d.verdict == "require_approval"
                else d
                for d in decisions
            ]
        verdicts_record(
            decisions, facts=facts, run_id=self.where.run_id, step_id=self.where.step_id,
            call_key=key, trigger=trigger,
        )  # fmt: skip
        return decisions

    def approval(self, key: str) -> Approval | None:
        """The latest approval a park of ``key`` at this step opened, if any."""
        verdict = (
            PolicyVerdict.objects.filter(
                step_id=self.where.step_id, call_key=key, approval__isnull=False
            )
            .select_related("approval__decided_by")
            .order_by("-id")
            .first()
        )
        return verdict.approval if verdict is not None else None

    def _act(self, decision: Decision, *, key: str, title: str, draft: Any) -> None:
        if decision.verdict == "block":
            raise PolicyBlocked(f"blocked by policy {decision.policy!r}: {decision.reason}")
        if decision.verdict == "require_approval":
            approval = self.approval(key)
            if approval is not None and approval.status == ApprovalStatus.REJECTED:
                raise PolicyBlocked(
                    f"policy {decision.policy!r}: the approver rejected it "
                    f"({approval.decision_reason or 'no reason given'})"
                )
            raise PolicyParked(
                f"policy {decision.policy!r}: {decision.reason}", title=title, draft=draft, key=key
            )

    def at_rest(self, value: Any) -> Any:
        """``value`` (JSON-like data about to be stored: the step's details, a memory entry,
        a parked step's prompt) with every personal datum a ``redact`` verdict of this
        execution kept from the model replaced by the placeholder the model saw instead.
        Pure and cheap: ``value`` itself when nothing was redacted."""
        return pii_mask(value, self._kept) if self._kept else value

    def _trigger(self, **extra: Any) -> dict[str, Any]:
        if not self.where.prompt:
            return extra
        return {"prompt": self.at_rest(self.where.prompt), **extra}

    # --- model calls -------------------------------------------------------------------------
    def model_call(self, request: ModelRequest, *, turns: int) -> ModelTicket:
        spec = request.agent
        texts = redaction.request_texts(request)
        estimate = estimate_spend(spec, texts)
        facts = self._facts(
            "model_call",
            provider=str(spec.get("provider") or "scripted"),
            text="\n".join(texts),
            agent_turns=turns,
            estimate=estimate,
        )
        if not self._applicable(facts):
            return ModelTicket(request=request)
        key = f"model:{turns}"
        budgets = [
            p for p in self.where.policies if p.kind == "budget" and _valid(p) and applies(p, facts)
        ]
        reservation = None
        if budgets:
            estimate = estimate_spend(spec, texts, answer_tokens=self._answer_tokens(spec))
            facts = replace(facts, estimate=estimate)
        with _recording():
            if budgets:
                facts = self._with_spend(facts, budgets)
            # No prompt in the trigger here: it may hold the personal data a PII policy keeps in.
            decisions = self._decide(facts, key=key, trigger={"turn": turns})
            verdict = strictest(decisions)
            if budgets and verdict.verdict in ("allow", "redact"):
                reservation = BudgetReservation.objects.create(
                    run_id=self.where.run_id,
                    flow_slug=self.where.flow,
                    step_id=self.where.step_id,
                    tokens=estimate.tokens,
                    cost=estimate.cost,
                )
        self._act(
            verdict, key=key, title=f"Model call by {self.where.agent}",
            draft={"model_call": facts.summary()},
        )  # fmt: skip
        # ``evaluate`` answers one decision per applicable policy, in order.
        redacting = [
            policy
            for policy, decision in zip(self._applicable(facts), decisions, strict=True)
            if decision.verdict == "redact"
        ]
        redacted = redaction.redact_request(request, redacting)
        for placeholder, value in redacted.kept.items():
            self._kept.setdefault(value, placeholder)  # the first numbering the model saw
        return ModelTicket(
            request=redacted.request,
            reservation=reservation.id if reservation else None,
            placeholders=redacted.restore,
        )

    def _answer_tokens(self, spec: dict[str, Any]) -> int | None:
        """The longest recent answer of this node's calls to the stage's model (see
        ``gather.recent_answer_tokens``); None without a node to look at or any history."""
        if self.where.flow_id is None or not self.where.node_id:
            return None
        return gather.recent_answer_tokens(
            flow_id=self.where.flow_id,
            node_id=self.where.node_id,
            model=str(spec.get("model") or ""),
        )

    def _applicable(self, facts: Facts) -> list[PolicyLike]:
        return [policy for policy in self.where.policies if applies(policy, facts)]

    def _with_spend(self, facts: Facts, budgets: list[PolicyLike]) -> Facts:
        """Lock every budget period in play (the lock is held until the reservation commits:
        that is what stops parallel calls from all seeing the same remaining budget), then
        read what each has used."""
        periods = sorted({str(p.config["per"]) for p in budgets} & set(PERIODS))
        where = {"run_id": self.where.run_id, "flow_slug": self.where.flow, "now": facts.now}
        gather.advisory_locks(gather.budget_lock_name(per, **where) for per in periods)
        return replace(facts, spent={per: gather.spend(per, **where) for per in periods})

    def model_done(
        self, ticket: ModelTicket, response: ModelResponse | None
    ) -> ModelResponse | None:
        if ticket.reservation is not None:
            used = Spend()
            if response is not None:
                spec = ticket.request.agent
                used = Spend(
                    tokens=response.tokens_in + response.tokens_out,
                    cost=price(spec, response.tokens_in, response.tokens_out),
                )
            with _recording():
                BudgetReservation.objects.filter(id=ticket.reservation).update(
                    tokens=used.tokens, cost=used.cost, settled=True
                )
        if response is None or not ticket.placeholders:
            return response
        return redaction.restore_response(response, ticket.placeholders)

    # --- tool calls ---------------------------------------------------------------------------
    def tool_call(self, *, name: str, arguments: dict[str, Any], key: str) -> ToolPass:
        if self.where.superseded():
            raise Superseded(f"attempt superseded; tool {name!r} not called")
        facts = self._facts(
            "tool_call", tool=name, category=_category(name, arguments), args=arguments
        )
        rates = [
            p
            for p in self.where.policies
            if p.kind == "rate_limit" and _valid(p) and applies(p, facts)
            and call_matches(p.config, facts)
        ]  # fmt: skip
        if not self._applicable(facts) and not self.where.parked:
            return ToolPass(arguments=arguments)
        trigger = self._trigger(tool=name, arguments=arguments)
        with _recording():
            if rates:
                # Count and reserve under the (policy, subject) locks: the reservation is the
                # effect ledger's own row, which every later count in any flow sees.
                subject = self.where.subject
                gather.advisory_locks(gather.rate_lock_names(rates, subject=subject))
                counts = gather.rate_counts(rates, subject=subject, key=key, now=facts.now)
                facts = replace(facts, counts=counts)
            verdict = strictest(self._decide(facts, key=key, trigger=trigger))
            if rates and verdict.verdict in ("allow", "redact"):
                _, created = Effect.objects.get_or_create(
                    key=key,
                    defaults={
                        "tool": name, "category": facts.category,
                        "subject": self.where.subject, "args": arguments,
                    },
                )  # fmt: skip
                if created:
                    self._reserved.add(key)
        self._act(
            verdict,
            key=key,
            title=f"Tool call: {name}",
            draft={"tool": name, "arguments": arguments},
        )
        approval = self._approved.get(key)
        if approval is None and self.where.parked:  # approved, then its policy went away
            found = self.approval(key)
            approval = found if found and found.status == ApprovalStatus.APPROVED else None
        if approval is not None:
            decided = approval.decision_output
            if isinstance(decided, dict) and isinstance(decided.get("arguments"), dict):
                return ToolPass(arguments=decided["arguments"])
        return ToolPass(arguments=arguments)

    def tool_failed(self, *, key: str) -> None:
        if key in self._reserved:
            # Only a reservation this execution made and no effect filled (result still null).
            Effect.objects.filter(key=key, result__isnull=True).delete()
            self._reserved.discard(key)

    # --- outputs --------------------------------------------------------------------------------
    def output(self, output: Any, *, confidence: float | None) -> None:
        facts = self._facts("output", text=to_text(output), confidence=confidence)
        if not self._applicable(facts):
            return
        with _recording():
            verdict = strictest(self._decide(facts, key="output", trigger=self._trigger()))
        self._act(
            verdict, key="output", title=f"Answer of {self.where.agent or 'a step'}", draft=output
        )


@contextmanager
def _recording() -> Iterator[None]:
    """A transaction for the guard's reads, reservations and verdict records that need not
    wait for its WAL flush: whatever it decided is followed by the step's own synchronous
    commit (its completion, failure or park), which flushes this one too; and if PostgreSQL
    lost it in a crash, the step runs again and decides again (as ``step_claim`` reasons)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def _category(name: str, arguments: dict[str, Any]) -> str:
    try:
        return tools.tool_category(name=name, args=arguments)
    except tools.ToolError:
        return ""


def estimate_spend(
    spec: dict[str, Any], texts: list[str], *, answer_tokens: int | None = None
) -> Spend:
    """What a model call is reserved against a budget before it is made, at the stage's prices:
    its prompt (a token per 4 characters of everything sent, known now) plus its answer.

    The answer is estimated from recent actual usage when there is any: ``answer_tokens``, the
    longest answer one call to this model gave in the node's latest 20 succeeded steps
    (``gather.recent_answer_tokens``; the max of 20, so about their p95), never more than
    ``max_tokens``. Without history it is ``max_tokens`` (default 1024), the most the call may
    use. Either way the reservation is settled to what the call actually used once it returns,
    so the estimate decides only whether a call may start near the end of a budget."""
    tokens_in = math.ceil(sum(len(text) for text in texts) / CHARS_PER_TOKEN)
    ceiling = int(spec.get("max_tokens") or 1024)
    tokens_out = ceiling if answer_tokens is None else max(0, min(answer_tokens, ceiling))
    return Spend(tokens=tokens_in + tokens_out, cost=price(spec, tokens_in, tokens_out))
