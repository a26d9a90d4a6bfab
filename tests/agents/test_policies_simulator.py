"""The simulator's replay rules, on facts given directly (no database): events of every run in
time order, rate limits counting what the policy let through for the same subject, budgets per
run and per flow day, a run stopping at its first block, gated calls assumed approved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from agents.policies import Facts, PolicySpec, Spend
from agents.policies.simulator import (
    Period,
    ReplayEvent,
    ReplayRun,
    SimulationError,
    simulate,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PERIOD = Period(since=T0 - timedelta(days=7), until=T0 + timedelta(days=7))


def call(minutes: int, subject: str = "ada", tool: str = "send_email") -> ReplayEvent:
    facts = Facts(
        point="tool_call", flow="leads", subject=subject, tool=tool,
        category="outbound_message", now=T0 + timedelta(minutes=minutes),
    )  # fmt: skip
    return ReplayEvent(facts, f"tool call {tool}", None)


def model(minutes: int, tokens: int, flow: str = "leads") -> ReplayEvent:
    facts = Facts(point="model_call", flow=flow, now=T0 + timedelta(minutes=minutes))
    return ReplayEvent(facts, "model call", None, Spend(tokens=tokens, cost=Decimal("0")))


def run(name: str, *events: ReplayEvent, subject: str = "ada", flow: str = "leads") -> ReplayRun:
    return ReplayRun(
        run_id=name, flow=flow, subject=subject, status="succeeded",
        created_at=events[0].facts.now, events=events,
    )  # fmt: skip


def verdicts(policy: PolicySpec, *runs: ReplayRun) -> dict[str, tuple[str, int]]:
    simulation = simulate(policy, runs, period=PERIOD)
    return {r.run.run_id: (r.verdict, r.events) for r in simulation.runs}


ONE_A_DAY = PolicySpec(
    slug="one-a-day", kind="rate_limit", verdict="block",
    config={"categories": ["outbound_message"], "max": 1, "window": "24h"},
)  # fmt: skip


def test_runs_interleave_in_time_and_a_run_stops_at_its_first_block() -> None:
    # a calls at 0 and 20 minutes, b at 10: b's call is the second in 24 h, so is a's later one.
    a = run("a", call(0), call(20), call(30))
    b = run("b", call(10))
    assert verdicts(ONE_A_DAY, a, b) == {"a": ("block", 2), "b": ("block", 1)}


def test_only_calls_for_the_same_subject_in_the_window_count() -> None:
    first = run("first", call(0))
    other = run("other", call(5, subject="bob"), subject="bob")
    next_day = run("next-day", call(24 * 60 + 1))
    assert verdicts(ONE_A_DAY, first, other, next_day) == {
        "first": ("allow", 1),
        "other": ("allow", 1),
        "next-day": ("allow", 1),
    }


def test_gated_calls_are_assumed_approved_and_count() -> None:
    gated = PolicySpec(
        slug="gate", kind="rate_limit", verdict="require_approval",
        config={"categories": ["outbound_message"], "max": 1, "window": "24h"},
    )  # fmt: skip
    result = simulate(gated, [run("a", call(0), call(1), call(2))], period=PERIOD)
    [only] = result.runs
    assert only.verdict == "require_approval"
    assert only.counts == {"allow": 1, "redact": 0, "require_approval": 2, "block": 0}
    assert [hit.reason.split(" calls")[0] for hit in only.hits] == [
        "1 of at most 1",
        "2 of at most 1",
    ]


def test_budgets_add_up_what_earlier_calls_used_per_run_and_per_flow_day() -> None:
    per_run = PolicySpec(
        slug="run", kind="budget", verdict="block", config={"per": "run", "max_tokens": 100}
    )
    assert verdicts(per_run, run("a", model(0, 60), model(1, 60)), run("b", model(2, 60))) == {
        "a": ("block", 2),
        "b": ("allow", 1),
    }
    per_day = PolicySpec(
        slug="day", kind="budget", verdict="block", config={"per": "flow_day", "max_tokens": 100}
    )
    assert verdicts(
        per_day,
        run("a", model(0, 60)),
        run("b", model(1, 60)),
        run("tomorrow", model(24 * 60, 60)),
        run("elsewhere", model(2, 60, flow="other"), flow="other"),
    ) == {"a": ("allow", 1), "b": ("block", 1), "tomorrow": ("allow", 1), "elsewhere": ("allow", 1)}


def test_a_blocked_model_call_spends_nothing() -> None:
    per_day = PolicySpec(
        slug="day", kind="budget", verdict="block", config={"per": "flow_day", "max_tokens": 100}
    )
    big, small = run("big", model(0, 500)), run("small", model(1, 90))
    assert verdicts(per_day, big, small) == {"big": ("block", 1), "small": ("allow", 1)}


@pytest.mark.parametrize(
    ("since", "until", "pointer"),
    [
        (T0, T0, "/until"),
        (T0 - timedelta(days=100), T0, "/since"),
        (T0.replace(tzinfo=None), T0, "/since"),
    ],
)
def test_bad_periods_are_refused(since: datetime, until: datetime, pointer: str) -> None:
    with pytest.raises(SimulationError) as refused:
        Period(since=since, until=until).check()
    assert refused.value.pointer == pointer
