"""A worker killed (SIGKILL, the whole worker) in the middle of an eagerly continued chain:
every step still runs to success once, every e-mail of the chain is sent exactly once, and the
chain really was continued on the worker (not queued step by step) before the kill."""

from __future__ import annotations

import pytest

from agents.models import OutboxMessage
from flows.engine import runs
from flows.models import RunEvent, Step
from tests.support.flows import document, node, save, wait_terminal
from tests.support.wait import wait_for

# committed rows: the workers under test read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

LENGTH = 6


def test_worker_killed_mid_continued_chain_runs_every_step_once(celery_worker_factory, own_beat):
    # A long slice so the whole chain would continue on one worker if nothing happened.
    eager = {"CONTROLROOM_EAGER_SLICE_SECONDS": "60"}
    first = celery_worker_factory(hostname="first@%h", env_overrides=eager)
    mail = {"to": "m{{ run.id }}@example.com", "body": "part", "sleep": 0.6}
    flow = save(
        document(
            "eager-kill",
            [
                node(f"m{i}", "tool", tool="slow_email", args={**mail, "subject": f"part {i}"})
                for i in range(LENGTH)
            ],
            [(f"m{i}", f"m{i + 1}") for i in range(LENGTH - 1)],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    # Kill once some continued steps are done and the rest of the chain is still ahead.
    wait_for(
        lambda: (
            RunEvent.objects.filter(run=run, to_status="running", data__continued=True).count() >= 2
        ),
        timeout=60,
        message="two continued claims",
    )
    first.kill()
    assert Step.objects.filter(run=run, status="succeeded").count() < LENGTH
    celery_worker_factory(hostname="second@%h", env_overrides=eager)

    run = wait_terminal(run, timeout=90)
    assert run.status == "succeeded", run.error
    steps = Step.objects.filter(run=run)
    assert sorted(steps.values_list("node_id", "status")) == [
        (f"m{i}", "succeeded") for i in range(LENGTH)
    ]
    # One e-mail per step, whatever was in flight when the worker died.
    subjects = sorted(OutboxMessage.objects.values_list("subject", flat=True))
    assert subjects == sorted(f"part {i}" for i in range(LENGTH))
