"""The policy simulator: replay one policy against recorded runs and say, run by run, what it
would have allowed, gated, blocked or redacted.

Pure over what it is fed: ``flows`` turns recorded steps and tool calls into ``ReplayRun``s
(``flows.guardrails.replay``) and registers itself as the source with
``replay_source_set``, so the policy pages and API (here, in ``agents``) can ask for a period
without importing ``flows``.

Replay rules, the same the orchestrator enforces (``evaluate`` decides every event):
- events of every run are replayed in time order, so a rate limit counts the calls *this
  policy would have let through* for the same subject across all flows in its window, and a
  budget counts what the run / the flow's day / the flow's month had used before each call
  (a model call is estimated at what it actually used);
- a run stops at its first ``block`` (nothing after it would have happened); a
  ``require_approval`` parks it, and the replay assumes the person approved, so the run goes on.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from agents.policies.evaluate import applies, evaluate, strictest
from agents.policies.facts import VERDICTS, Decision, Facts, PolicyLike, Spend
from agents.policies.kinds import call_matches, window_of

MAX_RUNS = 500
MAX_PERIOD = timedelta(days=92)
MAX_HITS_PER_RUN = 20


class SimulationError(Exception):
    """The simulation cannot run as asked (a 4xx for the caller)."""

    def __init__(self, message: str, *, pointer: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer


@dataclass(frozen=True)
class ReplayEvent:
    """One recorded moment a policy is asked about: ``facts`` as the orchestrator would have
    gathered them (without ``counts``/``spent``: the replay derives those), a label people
    read ("tool call send_email at notify"), and what a model call actually used."""

    facts: Facts
    label: str
    step_id: int | None = None
    usage: Spend = field(default_factory=Spend)


@dataclass(frozen=True)
class ReplayRun:
    run_id: str
    flow: str
    subject: str
    status: str
    created_at: datetime
    events: tuple[ReplayEvent, ...]


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    flow: str = ""

    def check(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise SimulationError("since and until need a time zone", pointer="/since")
        if self.until <= self.since:
            raise SimulationError("until must be after since", pointer="/until")
        if self.until - self.since > MAX_PERIOD:
            raise SimulationError(
                f"the period may be at most {MAX_PERIOD.days} days", pointer="/since"
            )


@dataclass(frozen=True)
class Hit:
    """One event the policy had something to say about."""

    label: str
    verdict: str
    reason: str
    step_id: int | None
    at: datetime


@dataclass
class RunResult:
    run: ReplayRun
    verdict: str = "allow"
    events: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    hits: list[Hit] = field(default_factory=list)
    stopped: bool = False

    @property
    def reason(self) -> str:
        strongest = [hit for hit in self.hits if hit.verdict == self.verdict]
        return strongest[0].reason if strongest else ""


@dataclass
class Simulation:
    period: Period
    runs: list[RunResult]
    truncated: bool

    @property
    def summary(self) -> dict[str, Any]:
        """Runs by the strictest verdict they met, and events (checks) by verdict."""
        runs = dict.fromkeys(VERDICTS, 0)
        events = dict.fromkeys(VERDICTS, 0)
        for result in self.runs:
            runs[result.verdict] += 1
            for verdict, count in result.counts.items():
                events[verdict] += count
        return {
            "runs": len(self.runs),
            "runs_by_verdict": runs,
            "events": sum(events.values()),
            "events_by_verdict": events,
            "truncated": self.truncated,
        }


ReplaySource = Callable[[Period, int], tuple[list[ReplayRun], bool]]
_source: list[ReplaySource] = []


def replay_source_set(source: ReplaySource) -> None:
    """Register what turns a period into recorded runs (``flows`` does, at start-up)."""
    _source[:] = [source]


class _Replay:
    """The state carried across runs in time order: calls let through per (subject) for rate
    limits, and spend per budget period."""

    def __init__(self, policy: PolicyLike) -> None:
        self.policy = policy
        self.calls: dict[str, list[datetime]] = defaultdict(list)
        self.spent: dict[tuple[str, str], Spend] = defaultdict(Spend)

    def _budget_keys(self, run: ReplayRun, now: datetime) -> dict[str, tuple[str, str]]:
        return {
            "run": ("run", run.run_id),
            "flow_day": ("day", f"{run.flow}:{now:%Y-%m-%d}"),
            "flow_month": ("month", f"{run.flow}:{now:%Y-%m}"),
        }

    def facts_for(self, run: ReplayRun, event: ReplayEvent) -> Facts:
        facts, policy = event.facts, self.policy
        if policy.kind == "rate_limit" and facts.point == "tool_call":
            since = facts.now - timedelta(seconds=window_of(policy.config))
            made = self.calls[facts.subject]
            facts = replace(facts, counts={policy.slug: sum(1 for t in made if t >= since)})
        if policy.kind == "budget" and facts.point == "model_call":
            keys = self._budget_keys(run, facts.now)
            spent = {period: self.spent[key] for period, key in keys.items()}
            facts = replace(facts, spent=spent, estimate=event.usage)
        return facts

    def after(self, run: ReplayRun, event: ReplayEvent, decision: Decision) -> None:
        """What a call the policy let through (or parked, then approved) leaves behind."""
        facts, policy = event.facts, self.policy
        if decision.verdict == "block":
            return
        if (
            policy.kind == "rate_limit"
            and facts.point == "tool_call"
            and applies(policy, facts)
            and call_matches(policy.config, facts)
        ):
            self.calls[facts.subject].append(facts.now)
        if facts.point == "model_call":
            for key in self._budget_keys(run, facts.now).values():
                self.spent[key] = self.spent[key] + event.usage


def simulate(policy: PolicyLike, runs: Iterable[ReplayRun], *, period: Period) -> Simulation:
    """Replay ``policy`` alone over ``runs`` (see the module docstring for the rules)."""
    results = {run.run_id: RunResult(run=run) for run in runs}
    replay = _Replay(policy)
    # Every run's events merged in time order (ties keep each run's own order).
    queue = [
        (event.facts.now, index, position, result.run.run_id)
        for index, result in enumerate(results.values())
        for position, event in enumerate(result.run.events)
    ]
    heapq.heapify(queue)
    while queue:
        _, _, position, run_id = heapq.heappop(queue)
        result = results[run_id]
        if result.stopped:
            continue
        event = result.run.events[position]
        facts = replay.facts_for(result.run, event)
        decisions = evaluate([policy], facts)
        if not decisions:
            continue
        decision = strictest(decisions)
        replay.after(result.run, event, decision)
        _record(result, event, decision)
    ordered = sorted(results.values(), key=lambda r: (r.run.created_at, r.run.run_id), reverse=True)
    return Simulation(period=period, runs=ordered, truncated=False)


def _record(result: RunResult, event: ReplayEvent, decision: Decision) -> None:
    result.events += 1
    result.counts[decision.verdict] += 1
    if decision.rank > VERDICTS.index(result.verdict):
        result.verdict = decision.verdict
    # ``strictest`` answers the shared ALLOW ("no policy applies") when nothing held.
    if decision.policy and decision.reason and len(result.hits) < MAX_HITS_PER_RUN:
        result.hits.append(
            Hit(
                label=event.label,
                verdict=decision.verdict,
                reason=decision.reason,
                step_id=event.step_id,
                at=event.facts.now,
            )
        )
    if decision.verdict == "block":
        result.stopped = True


def policy_simulate(policy: PolicyLike, *, period: Period, max_runs: int = MAX_RUNS) -> Simulation:
    """Replay ``policy`` over the recorded runs of ``period`` (the newest ``max_runs`` of it)
    from the registered source. Raises ``SimulationError`` for a bad period."""
    period.check()
    if not _source:
        raise SimulationError("no recorded runs to replay: the flows app is not installed")
    runs, truncated = _source[0](period, max_runs)
    simulation = simulate(policy, runs, period=period)
    simulation.truncated = truncated
    return simulation


def simulation_dict(simulation: Simulation) -> dict[str, Any]:
    """The simulation as the API and the pages show it: the summary, then one row per run."""
    return {
        "period": {
            "since": simulation.period.since.isoformat(),
            "until": simulation.period.until.isoformat(),
            "flow": simulation.period.flow or None,
        },
        "summary": simulation.summary,
        "runs": [
            {
                "run_id": result.run.run_id,
                "url": f"/runs/{result.run.run_id}/",
                "flow": result.run.flow,
                "subject": result.run.subject,
                "status": result.run.status,
                "created_at": result.run.created_at.isoformat(),
                "verdict": result.verdict,
                "events": result.events,
                "counts": result.counts,
                "reason": result.reason,
                "stopped": result.stopped,
                "hits": [
                    {
                        "label": hit.label,
                        "verdict": hit.verdict,
                        "reason": hit.reason,
                        "step_id": hit.step_id,
                        "at": hit.at.isoformat(),
                    }
                    for hit in result.hits
                ],
            }
            for result in simulation.runs
        ],
    }
