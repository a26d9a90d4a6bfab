"""Redis killed (SIGKILL, no persistence: everything it held is gone) and restarted while
e-mails are being delivered: every run ends, every e-mail reaches the mail server exactly once,
no outbox row stays pending. Before the outbox re-drive, the e-mails whose delivery message was
in Redis stayed pending forever while their runs said `succeeded`."""

from __future__ import annotations

import time

import pytest

from agents.models import Effect, OutboxMessage
from flows.engine import runs
from flows.models import Run
from flows.states import RUN_TERMINAL
from tests.faults.conftest import FaultStack
from tests.support.flows import document, node, save
from tests.support.wait import wait_for

# committed rows: the workers under test read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 12


def test_redis_killed_mid_delivery_loses_no_email_and_sends_none_twice(
    fault_stack: FaultStack,
) -> None:
    mail = {"to": "{{ input.to }}", "subject": "Hello", "body": "Hi {{ input.to }}"}
    flow = save(document("mailer", [node("mail", "tool", tool="send_email", args=mail)], []))
    recipients = [f"lead{n}@example.com" for n in range(RUNS)]
    started = [runs.run_start(flow=flow, input={"to": to})[0] for to in recipients]

    # Kill Redis once some e-mails are delivered and others are still waiting for delivery.
    wait_for(
        lambda: len(fault_stack.smtp.received()) >= 2,
        timeout=60,
        message="the first deliveries",
    )
    assert OutboxMessage.objects.filter(status="pending").exists()
    fault_stack.redis.kill()
    fault = time.monotonic()
    wait_for(
        lambda: (
            Run.objects.filter(status__in=["queued", "running"]).count() == 0
            or OutboxMessage.objects.filter(status="pending").exists()
        ),
        timeout=10,
        message="work left pending while Redis is down",
    )
    fault_stack.redis.restart()

    wait_for(
        lambda: (
            Run.objects.exclude(status__in=RUN_TERMINAL).count() == 0
            and not OutboxMessage.objects.filter(status="pending").exists()
        ),
        timeout=90,
        message="every run ended and every e-mail delivered",
    )
    recovery = time.monotonic() - fault
    print(f"\nredis SIGKILL mid-delivery: recovered in {recovery:.1f}s")

    # Exactly once, counted at both ends.
    assert sorted(Run.objects.values_list("status", flat=True)) == ["succeeded"] * RUNS
    assert {run.id for run in Run.objects.all()} == {run.id for run in started}
    assert Effect.objects.filter(tool="send_email").count() == RUNS
    assert OutboxMessage.objects.filter(status="sent").count() == RUNS
    assert fault_stack.smtp.per_recipient() == {to: 1 for to in recipients}
    ids = [message["message_id"] for message in fault_stack.smtp.received()]
    assert len(set(ids)) == RUNS
