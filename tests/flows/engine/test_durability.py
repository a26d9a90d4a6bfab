"""Durability with real Celery worker processes, a real scheduler, PostgreSQL and Redis.

Each test starts its own worker (and beat, the reconciler's clock) as subprocesses against the
test database; faults are injected by killing processes, not by mocking.
"""

from __future__ import annotations

import os
import signal

import pytest

from agents.models import OutboxMessage
from flows.engine import runs
from flows.models import Run, Step
from flows.tasks import step_execute_task
from tests.support import tools
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.wait import stays, wait_for

# committed rows: every test runs its steps on real worker processes with their own connections
pytestmark = pytest.mark.django_db(transaction=True)


def _email_flow(slug: str, *, sleep: float) -> dict:
    return document(
        slug,
        [
            node("draft", "agent", agent="writer"),
            node(
                "send",
                "tool",
                tool="slow_email",
                args={"to": "lead@example.com", "body": "{{ steps.draft.output }}", "sleep": sleep},
            ),
            node("done", "end", output="{{ steps.send.output }}"),
        ],
        [("draft", "send"), ("send", "done")],
        agents=[scripted("writer", "Hello from the writer", latency_ms=100)],
    )


def test_run_completes_on_real_workers(celery_worker, celery_beat):
    flow = save(_email_flow("plain", sleep=0))
    run, _ = runs.run_start(flow=flow, input={})
    run = wait_terminal(run)
    assert run.status == "succeeded", run.error
    assert run.output["to"] == "lead@example.com"
    assert OutboxMessage.objects.count() == 1


def test_worker_killed_mid_step_completes_and_effect_happens_once(celery_worker_factory, own_beat):
    flow = save(_email_flow("kill-mid-step", sleep=30))
    first = celery_worker_factory(hostname="first@%h")
    run, _ = runs.run_start(flow=flow, input={})
    send = wait_for(
        lambda: Step.objects.filter(run=run, node_id="send", status="running").first(),
        message="the send step to run",
    )
    # The e-mail is in the outbox (committed) and the tool is still busy: kill the worker.
    wait_for(lambda: OutboxMessage.objects.exists(), message="the side effect")
    first.kill()
    celery_worker_factory(hostname="second@%h")
    run = wait_terminal(run, timeout=90)
    assert run.status == "succeeded", run.error
    send.refresh_from_db()
    assert send.attempt == 2
    assert OutboxMessage.objects.count() == 1
    assert run.output["replayed"] is True
    assert tools.calls(send.idempotency_key) == 2


def test_same_step_message_delivered_twice_executes_once(celery_worker_factory, own_beat):
    celery_worker_factory(concurrency=2)
    flow = save(
        document(
            "duplicate",
            [node("work", "tool", tool="counted_sleep", args={"seconds": 1})],
            [],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    step = Step.objects.get(run=run, node_id="work")
    step_execute_task.delay(step.id)  # the same message again, while the first may be running
    step_execute_task.delay(step.id)
    run = wait_terminal(run)
    assert run.status == "succeeded"
    step.refresh_from_db()
    history = list(step.events.values_list("from_status", "to_status", "data"))
    assert step.attempt == 1, history
    assert tools.calls(step.idempotency_key) == 1
    assert step.events.filter(to_status="running").count() == 1


def test_step_that_always_crashes_its_worker_fails_after_max_attempts(
    celery_worker_factory, own_beat
):
    worker = celery_worker_factory(concurrency=2)
    crashing = save(
        document(
            "crasher",
            [node("boom", "tool", tool="crash_worker", retry={"max_attempts": 3})],
            [],
        )
    )
    healthy = save(_email_flow("healthy", sleep=0))
    bad_run, _ = runs.run_start(flow=crashing, input={})
    good_runs = [runs.run_start(flow=healthy, input={})[0] for _ in range(3)]
    bad_run = wait_terminal(bad_run, timeout=120)
    assert bad_run.status == "failed"
    assert "gave up after 3 attempts" in bad_run.error
    boom = Step.objects.get(run=bad_run, node_id="boom")
    assert boom.attempt == 3
    assert tools.calls(boom.idempotency_key) == 3
    for run in good_runs:
        assert wait_terminal(run).status == "succeeded"
    assert worker.is_alive()


def test_redis_restarted_mid_run_the_run_completes(
    celery_worker_factory, process_env, process_log_dir, managed_processes, tmp_path
):
    from controlroom import devstack
    from tests.support import stack

    redis = devstack.start_redis(tmp_path / "redis")
    try:
        env = {"REDIS_URL": redis.url}
        celery_worker_factory(env_overrides=env)
        stack.start_celery_beat(
            env={**process_env, **env}, log_dir=process_log_dir, register=managed_processes
        )
        chain = [node(f"s{i}", "agent", agent="slow") for i in range(5)]
        flow = save(
            document(
                "redis-restart",
                chain,
                [(f"s{i}", f"s{i + 1}") for i in range(4)],
                agents=[scripted("slow", "ok", latency_ms=800)],
            )
        )
        # This process publishes to the session's Redis, not the one under test: the run's
        # first step reaches the worker through the reconciler, as a lost publish would.
        run, _ = runs.run_start(flow=flow, input={})
        wait_for(
            lambda: Step.objects.filter(run=run, node_id="s1").exists(),
            timeout=60,
            message="the second step",
        )
        redis.kill()
        wait_for(
            lambda: (
                Step.objects.filter(run=run, status="queued").exists()
                or Run.objects.get(id=run.id).status != "running"
            ),
            timeout=30,
            message="a step left queued while Redis is down",
        )
        redis.restart()
        run = wait_terminal(run, timeout=120)
        assert run.status == "succeeded", run.error
        assert Step.objects.filter(run=run, status="succeeded").count() == 5
    finally:
        redis.stop()


def test_transient_failures_retry_with_backoff(celery_worker, celery_beat):
    flow = save(
        document(
            "flaky",
            [
                node(
                    "call",
                    "tool",
                    tool="flaky",
                    args={"failures": 2},
                    retry={"max_attempts": 4, "backoff_seconds": 0.2},
                )
            ],
            [],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    run = wait_terminal(run, timeout=60)
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert step.attempt == 3
    assert run.output == {"succeeded_on_call": 3}
    assert step.events.filter(to_status="queued", from_status="running").count() == 2


def test_step_timeout_is_transient_and_capped(celery_worker, celery_beat):
    flow = save(
        document(
            "slowpoke",
            [
                node(
                    "nap",
                    "tool",
                    tool="counted_sleep",
                    args={"seconds": 20},
                    timeout_seconds=1,
                    retry={"max_attempts": 2, "backoff_seconds": 0.1},
                )
            ],
            [],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    run = wait_terminal(run, timeout=60)
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.attempt == 2
    assert "timed out" in step.error


def test_cancel_while_a_step_runs_discards_its_result(celery_worker, celery_beat):
    flow = save(
        document(
            "cancel-me",
            [
                node("nap", "tool", tool="counted_sleep", args={"seconds": 2}),
                node("after", "tool", tool="counted_sleep", args={"seconds": 0}),
            ],
            [("nap", "after")],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    wait_for(lambda: Step.objects.filter(run=run, status="running").exists(), message="running")
    runs.run_cancel(run_id=run.id)
    nap = Step.objects.get(run=run, node_id="nap")
    wait_for(lambda: tools.calls(nap.idempotency_key) == 1, message="the step to finish")
    # The worker now completes the step it ran; that completion must change nothing.
    stays(
        lambda: (
            Run.objects.get(id=run.id).status == "cancelled"
            and Step.objects.get(id=nap.id).status == "cancelled"
            and not Step.objects.filter(run=run, node_id="after").exists()
        ),
        seconds=2.5,
        message="the cancelled run and step, with nothing downstream",
    )


def test_retry_of_a_failed_run_reuses_outputs_and_never_repeats_effects(celery_worker, celery_beat):
    flow = save(
        document(
            "retry-me",
            [
                node("draft", "agent", agent="writer"),
                node(
                    "send",
                    "tool",
                    tool="slow_email",
                    args={"to": "a@example.com", "body": "{{ steps.draft.output }}", "sleep": 0},
                ),
                node("book", "tool", tool="fail_while_flagged", args={"flag": "crm-down"}),
            ],
            [("draft", "send"), ("send", "book")],
            agents=[scripted("writer", "draft text")],
        )
    )
    tools.set_flag("crm-down", True)
    try:
        first, _ = runs.run_start(flow=flow, input={})
        first = wait_terminal(first)
        assert first.status == "failed"
        assert "flag crm-down is set" in first.error
    finally:
        tools.set_flag("crm-down", False)
    second = wait_terminal(runs.run_retry(run_id=first.id))
    assert second.status == "succeeded", second.error
    steps = {step.node_id: step for step in second.steps.all()}
    assert steps["draft"].reused_from_id is not None
    assert steps["send"].reused_from_id is not None
    assert steps["book"].reused_from_id is None
    assert (
        steps["send"].idempotency_key == Step.objects.get(run=first, node_id="send").idempotency_key
    )
    assert OutboxMessage.objects.count() == 1
    assert tools.calls(steps["send"].idempotency_key) == 1


def test_no_worker_process_is_left_behind(own_worker):
    pid = own_worker.pid
    own_worker.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, signal.SIG_DFL)
