"""Guardrails with real Celery workers. Exact under concurrency, workers racing on PostgreSQL:
a budget's last part is never overspent by more than one call's estimate, and a
1-per-24 h limit lets exactly one of ten parallel e-mails to one contact out. And a policy
park approved in the inbox executes its call exactly once.

To make every racer reach the check at once (not one after another, as a lightly loaded
machine would), a second connection holds an exclusive lock on the table the check reads
until all of them are waiting on it: without the guard's own per-limit locks, they would
then all read the same remaining capacity.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Sum

from agents.models import Effect, OutboxMessage, Policy
from flows.engine import runs
from flows.models import BudgetReservation, PolicyVerdict, Run, Step
from tests.support.approvals import shown
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.wait import wait_for

# committed rows: the steps race on real worker processes, each on its own connection
pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def table_locked(table: str) -> Iterator[None]:
    """Hold ``ACCESS EXCLUSIVE`` on ``table`` from another connection: readers queue."""
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        other.rollback()


def lock_waiters() -> int:
    """Backends of the test database waiting on a lock (a table's or an advisory one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def running(run_ids: list[Any], count: int) -> bool:
    return Step.objects.filter(run_id__in=run_ids, status="running").count() >= count


def test_twenty_parallel_steps_never_overspend_the_last_part_of_a_budget(
    celery_worker_factory: Any,
) -> None:
    celery_worker_factory(concurrency=8)
    answer = "a fairly short answer"  # 6 tokens out; 3 in (the scripted model's count)
    doc = document(
        "fan-out",
        [
            node("split", "map", items="{{ input.numbers }}", body="think", concurrency=20),
            node("think", "agent", agent="thinker", prompt="item {{ item }}"),
        ],
        [],
        agents=[scripted("thinker", answer, max_tokens=8, latency_ms=200)],
    )
    flow = save(doc)
    # Each call's estimate: its prompt (1 token a 4 characters: 2) + max_tokens (8) = 10; it
    # uses 9. The cap leaves room for four or five of the twenty.
    cap = 45
    estimate = 10
    Policy.objects.create(
        slug="run-tokens", name="run tokens", kind="budget", verdict="block",
        config={"per": "run", "max_tokens": cap}, scope="flow", target="fan-out",
    )  # fmt: skip
    with table_locked("flows_budgetreservation"):
        run, _ = runs.run_start(flow=flow, input={"numbers": list(range(20))})
        wait_for(lambda: running([run.id], 8), message="eight steps at the budget check")
        wait_for(lambda: lock_waiters() >= 8, message="eight steps waiting on the lock")
    run = wait_terminal(run, timeout=120)
    # Steps still in flight when the run failed finish their calls: wait for every
    # reservation to be settled before counting.
    wait_for(
        lambda: not BudgetReservation.objects.filter(run=run, settled=False).exists(),
        message="every reservation to be settled",
    )
    reservations = BudgetReservation.objects.filter(run=run)
    used = reservations.aggregate(total=Sum("tokens"))["total"]
    assert run.status == "failed"
    assert "would exceed the run budget of 45 tokens" in run.error
    assert 1 < reservations.count() < 20
    assert used <= cap + estimate
    blocked = PolicyVerdict.objects.filter(run=run, policy="run-tokens", verdict="block")
    assert blocked.exists()
    # Every call that was let through was counted, and the steps agree with the ledger.
    model_tokens = Step.objects.filter(run=run, node_type="agent").aggregate(
        total=Sum("tokens_in") + Sum("tokens_out")
    )["total"]
    assert model_tokens <= used


def test_ten_parallel_emails_to_one_contact_send_exactly_one(celery_worker_factory: Any) -> None:
    celery_worker_factory(concurrency=10)
    Policy.objects.create(
        slug="one-a-day", name="one a day", kind="rate_limit", verdict="block",
        config={"categories": ["outbound_message"], "max": 1, "window": "24h"},
        reason="at most 1 outbound message per contact per 24 h",
    )  # fmt: skip
    flows = [
        save(
            document(
                f"notify-{index}",
                [
                    node(
                        "mail",
                        "tool",
                        tool="send_email",
                        args={"to": "{{ input.to }}", "body": "Hi {{ input.n }}"},
                    )
                ],
                [],
                subject="{{ input.to }}",
            )
        )
        for index in range(10)
    ]
    with table_locked("agents_effect"):
        started: list[Run] = [
            runs.run_start(flow=flow, input={"to": "ann@example.com", "n": n})[0]
            for n, flow in enumerate(flows)
        ]
        ids = [run.id for run in started]
        wait_for(lambda: running(ids, 10), message="ten e-mail steps at the rate check")
        wait_for(lambda: lock_waiters() >= 10, message="ten e-mail steps waiting on the lock")
    ended = [wait_terminal(run, timeout=120) for run in started]
    statuses = sorted(run.status for run in ended)
    assert statuses == ["failed"] * 9 + ["succeeded"]
    for run in ended:
        if run.status == "failed":
            assert "at most 1 outbound message per contact per 24 h" in run.error
    assert (
        Effect.objects.filter(subject="ann@example.com", category="outbound_message").count() == 1
    )
    message = wait_for(
        lambda: OutboxMessage.objects.filter(to="ann@example.com", status="sent").first(),
        message="the one e-mail to be sent",
    )
    assert OutboxMessage.objects.count() == 1
    assert message.effect.subject == "ann@example.com"


def test_an_approved_policy_gate_executes_once_on_real_workers(celery_worker: Any) -> None:
    from controlroom.accounts import user_ensure
    from controlroom.roles import Role
    from flows.approvals.decisions import Decision, approval_decide
    from flows.models import Approval

    Policy.objects.create(
        slug="review-outbound", name="review outbound", kind="approval",
        verdict="require_approval", config={"categories": ["outbound_message"]},
    )  # fmt: skip
    mail = {"to": "ann@example.com", "body": "{{ input.text }}"}
    agent = scripted(
        "mailer", {"tool_calls": [{"name": "send_email", "arguments": mail}], "then": "sent"},
        tools=["send_email"],
    )  # fmt: skip
    flow = save(
        document(
            "gated-mail",
            [node("write", "agent", agent="mailer", prompt="{{ input.text }}")],
            [],
            agents=[agent],
            subject="ann@example.com",
        )
    )
    run, _ = runs.run_start(flow=flow, input={"text": "Your order shipped"})
    approval = wait_for(
        lambda: Approval.objects.filter(run=run, status="pending").first(),
        message="the policy approval",
    )
    assert approval.source == "policy"
    assert not OutboxMessage.objects.exists()
    approver = user_ensure(username="approver", role=Role.APPROVER)
    approval_decide(
        approval_id=approval.id,
        user=approver,
        decision=Decision("approve", shown_hash=shown(approval.id)),
    )
    run = wait_terminal(run, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.output == "sent"
    message = wait_for(
        lambda: OutboxMessage.objects.filter(status="sent").first(), message="the e-mail sent"
    )
    assert message.body == "Your order shipped"
    assert OutboxMessage.objects.count() == 1
