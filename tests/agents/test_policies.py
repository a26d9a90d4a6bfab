"""The pure policy functions: config validation, evaluation per kind, the strictest verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agents.models import Policy
from agents.policies import (
    Decision,
    Facts,
    PolicySpec,
    Spend,
    config_errors,
    evaluate,
    strictest,
    verdict_errors,
)


def spec(kind: str, config: dict, verdict: str = "block", **fields: str) -> PolicySpec:
    return PolicySpec(slug=f"p-{kind}", kind=kind, verdict=verdict, config=config, **fields)


def call(tool: str = "send_email", category: str = "outbound_message", **fields) -> Facts:
    return Facts(point="tool_call", tool=tool, category=category, **fields)


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "config", "pointer"),
    [
        ("rate_limit", {"max": 1}, "/"),
        ("rate_limit", {"max": 1, "window": "a day"}, "/window"),
        ("rate_limit", {"max": -1, "window": "24h"}, "/max"),
        ("approval", {"when": "args.amount >"}, "/when"),
        (
            "quiet_hours",
            {"time_zone": "Mars/Olympus", "start": "20:00", "end": "08:00"},
            "/time_zone",
        ),
        ("quiet_hours", {"time_zone": "UTC", "start": "25:00", "end": "08:00"}, "/start"),
        ("budget", {"per": "run"}, "/"),
        ("budget", {"per": "run", "max_cost": "lots"}, "/max_cost"),
        (
            "pii",
            {"patterns": [{"name": "t", "regex": "ok"}, {"regex": "(unclosed"}]},
            "/patterns/1/regex",
        ),
        ("content", {}, "/"),
        ("tool_scope", {"agents": ["a"]}, "/"),
        ("limits", {"max_steps": 0}, "/max_steps"),
        ("nonsense", {}, "/"),
    ],
)
def test_config_errors_point_at_the_bad_field(kind: str, config: dict, pointer: str) -> None:
    errors = config_errors(kind, config)
    assert errors, f"{kind} {config} should be refused"
    assert errors[0][0] == pointer


def test_valid_configs_have_no_errors() -> None:
    assert (
        config_errors("rate_limit", {"categories": ["outbound_message"], "max": 1, "window": "24h"})
        == []
    )
    assert (
        config_errors("budget", {"per": "flow_day", "max_cost": "2.50", "max_tokens": 1000}) == []
    )
    assert (
        config_errors(
            "pii", {"restore": True, "patterns": [{"name": "ticket", "regex": r"TCK-\d+"}]}
        )
        == []
    )


def test_verdicts_are_checked_per_kind() -> None:
    assert verdict_errors("limits", "require_approval")
    assert verdict_errors("pii", "redact") == []


# --- kinds ----------------------------------------------------------------------------------


def test_approval_by_category_and_by_expression_over_args() -> None:
    by_category = spec("approval", {"categories": ["payment"]}, "require_approval")
    by_amount = spec(
        "approval", {"tools": ["pay_*"], "when": "args.amount > 500"}, "require_approval"
    )
    small = call("pay_invoice", "payment", args={"amount": 20})
    large = call("pay_invoice", "payment", args={"amount": 900})
    assert [d.verdict for d in evaluate([by_category, by_amount], small)] == [
        "require_approval",
        "allow",
    ]
    assert strictest(evaluate([by_amount], large)).reason == "args.amount > 500 holds"
    assert evaluate([by_category], call()) == [Decision("allow", "p-approval", "approval")]


def test_approval_by_an_earlier_steps_score_and_by_confidence() -> None:
    policy = spec("approval", {"when": "steps.sentiment.output.score < -0.5"}, "require_approval")
    angry = call(steps={"sentiment": {"output": {"score": -0.9}}})
    calm = call(steps={"sentiment": {"output": {"score": 0.4}}})
    assert strictest(evaluate([policy], angry)).verdict == "require_approval"
    assert strictest(evaluate([policy], calm)).verdict == "allow"
    unsure = spec("approval", {"min_confidence": 0.7}, "require_approval")
    # A confidence rule does not gate tool calls, only answers.
    assert strictest(evaluate([unsure], call())).verdict == "allow"
    low = Facts(point="output", confidence=0.4)
    assert "below 0.7" in strictest(evaluate([unsure], low)).reason


def test_a_condition_that_cannot_be_evaluated_fails_closed() -> None:
    policy = spec("approval", {"when": "args.amount > 500"}, "require_approval")
    decision = strictest(evaluate([policy], call(args={"amount": "lots"})))
    assert decision.verdict == "require_approval"
    assert "could not be evaluated" in decision.reason


def test_rate_limit_counts_what_flows_gathered() -> None:
    policy = spec("rate_limit", {"categories": ["outbound_message"], "max": 1, "window": "24h"})
    assert strictest(evaluate([policy], call(subject="a@x.io"))).verdict == "allow"
    blocked = strictest(evaluate([policy], call(subject="a@x.io", counts={"p-rate_limit": 1})))
    assert blocked.verdict == "block"
    assert blocked.detail["count"] == 1
    assert (
        evaluate([policy], call("knowledge_search", "read", counts={"p-rate_limit": 5}))[0].verdict
        == "allow"
    )


def test_quiet_hours_wrap_midnight_in_the_policy_time_zone() -> None:
    policy = spec("quiet_hours", {"time_zone": "Europe/Berlin", "start": "20:00", "end": "08:00"})
    night = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    day = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)  # 10:30 in Berlin
    assert strictest(evaluate([policy], call(now=night))).verdict == "block"
    assert strictest(evaluate([policy], call(now=day))).verdict == "allow"


def test_budget_adds_the_estimate_to_what_was_spent() -> None:
    policy = spec("budget", {"per": "run", "max_tokens": 1000, "max_cost": "0.10"})
    fits = Facts(
        point="model_call", spent={"run": Spend(600, Decimal("0.01"))}, estimate=Spend(400)
    )
    over = Facts(
        point="model_call", spent={"run": Spend(601, Decimal("0.01"))}, estimate=Spend(400)
    )
    costly = Facts(
        point="model_call",
        spent={"run": Spend(0, Decimal("0.09"))},
        estimate=Spend(1, Decimal("0.02")),
    )
    assert strictest(evaluate([policy], fits)).verdict == "allow"
    assert "1000 tokens" in strictest(evaluate([policy], over)).reason
    assert "0.10" in strictest(evaluate([policy], costly)).reason


def test_limits_end_runaway_steps_and_turns() -> None:
    policy = spec("limits", {"max_steps": 50, "max_loop_iterations": 10, "max_agent_turns": 4})
    assert strictest(evaluate([policy], Facts(point="step", step_count=49))).verdict == "allow"
    assert (
        "max_steps=50" in strictest(evaluate([policy], Facts(point="step", step_count=50))).reason
    )
    assert (
        "max_loop_iterations"
        in strictest(evaluate([policy], Facts(point="step", loop_iteration=10))).reason
    )
    assert (
        "max_agent_turns"
        in strictest(evaluate([policy], Facts(point="model_call", agent_turns=4))).reason
    )


def test_tool_scope_allow_and_deny_lists() -> None:
    only_reads = spec(
        "tool_scope", {"agents": ["writer"], "allow": ["knowledge_search", "mcp:crm/*"]}
    )
    assert strictest(evaluate([only_reads], call(agent="writer"))).verdict == "block"
    assert (
        strictest(evaluate([only_reads], call("mcp:crm/find", "read", agent="writer"))).verdict
        == "allow"
    )
    assert strictest(evaluate([only_reads], call(agent="other"))).verdict == "allow"
    deny = spec("tool_scope", {"deny": ["send_email"]})
    assert strictest(evaluate([deny], call(agent="any"))).verdict == "block"


def test_pii_skips_the_scripted_provider_unless_configured() -> None:
    text = "mail ann@example.com"
    default = spec("pii", {}, "redact")
    assert (
        strictest(
            evaluate([default], Facts(point="model_call", provider="scripted", text=text))
        ).verdict
        == "allow"
    )
    assert (
        strictest(
            evaluate([default], Facts(point="model_call", provider="openai", text=text))
        ).verdict
        == "redact"
    )
    forced = spec("pii", {"providers": ["scripted"]}, "redact")
    assert (
        strictest(
            evaluate([forced], Facts(point="model_call", provider="scripted", text=text))
        ).verdict
        == "redact"
    )


def test_content_phrases_and_patterns() -> None:
    policy = spec(
        "content",
        {"phrases": ["Guaranteed returns"], "patterns": [{"name": "promo", "regex": r"PROMO-\d+"}]},
    )
    assert (
        "guaranteed returns"
        in strictest(
            evaluate([policy], Facts(point="output", text="GUARANTEED RETURNS!"))
        ).reason.lower()
    )
    assert (
        "promo" in strictest(evaluate([policy], Facts(point="output", text="use PROMO-42"))).reason
    )
    assert strictest(evaluate([policy], Facts(point="output", text="hello"))).verdict == "allow"


CATASTROPHIC = r"(a|aa)+$"  # backtracks exponentially on a long run of "a" without a match


def test_a_pattern_that_runs_out_of_time_counts_as_a_match() -> None:
    policy = spec("content", {"patterns": [{"name": "slow", "regex": CATASTROPHIC}]})
    decision = strictest(evaluate([policy], Facts(point="output", text="a" * 60 + "!")))
    assert decision.verdict == "block" and "took longer" in decision.reason


def test_pattern_syntax_is_checked_by_the_engine_that_matches() -> None:
    bad = {"patterns": [{"name": "x", "regex": "(unclosed"}]}
    assert config_errors("content", bad)[0][0] == "/patterns/0/regex"


# --- scope, strictest, rows ------------------------------------------------------------------


def test_scope_limits_a_policy_to_its_target() -> None:
    flow_only = spec("tool_scope", {"deny": ["send_email"]}, scope="flow", target="billing")
    assert evaluate([flow_only], call(flow="sales")) == []
    assert strictest(evaluate([flow_only], call(flow="billing"))).verdict == "block"
    tool_only = spec("approval", {}, "require_approval", scope="tool", target="send_email")
    assert evaluate([tool_only], call("upsert_record", "write")) == []


def test_strictest_orders_block_over_approval_over_redact_over_allow() -> None:
    decisions = [
        Decision("redact", "a", reason="r"),
        Decision("block", "b", reason="b"),
        Decision("require_approval", "c", reason="c"),
    ]
    assert strictest(decisions).policy == "b"
    assert strictest(decisions[::2]).policy == "c"
    assert strictest([]).verdict == "allow"


def test_a_misconfigured_row_blocks() -> None:
    row = Policy(
        slug="broken", kind="rate_limit", verdict="block", config={"max": "one", "window": "1h"}
    )
    decision = strictest(evaluate([row], call()))
    assert decision.verdict == "block"
    assert "misconfigured at /max" in decision.reason


def test_an_allow_verdict_only_records() -> None:
    watch = spec(
        "approval", {"categories": ["outbound_message"]}, "allow", reason="watching e-mail"
    )
    decision = evaluate([watch], call())[0]
    assert decision.verdict == "allow"
    assert decision.reason.startswith("watching e-mail")


def test_a_tool_call_is_checked_against_the_run_duration_only() -> None:
    policy = spec("limits", {"max_steps": 1, "max_run_seconds": 60})
    assert strictest(evaluate([policy], call(step_count=5))).verdict == "allow"
    assert "max_run_seconds=60" in strictest(evaluate([policy], call(run_seconds=61.0))).reason
