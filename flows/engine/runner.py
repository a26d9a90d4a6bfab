"""Executing a queued step on a worker: claim, execute outside any transaction, complete.

Delivery is at least once (acks_late + reject_on_worker_lost, reconciler re-enqueues), so every
phase is fenced: the claim is a compare-and-set queued → running that bumps ``attempt``; the
completion only applies if the step is still running *with that attempt*. A duplicate or late
delivery finds nothing to claim or complete and does nothing.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from agents.redaction import redact, redact_value
from controlroom import batch
from controlroom.observability import context as ids
from controlroom.observability import tracing as observability
from flows.engine import claims, context, continuation, transitions
from flows.engine.claims import Claim
from flows.engine.hooks import HOOKS
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import Done, NodeContext, StepError, TransientError, Usage
from flows.engine.scheduler import Advance
from flows.graph import for_version
from flows.guardrails.sources import document_policies
from flows.models import Run, Step
from flows.roi import facts as roi_facts
from flows.states import StepStatus

logger = logging.getLogger(__name__)


def step_claim(*, step_id: int, continued: bool = False) -> Claim | None:
    """Take a queued step for execution, or return None if there is nothing to take.

    One statement (``flows.engine.claims``) in its own durable transaction: the claim is what
    licenses executing the step's effects. (An asynchronous commit here was lost by a
    PostgreSQL crash while the tool already ran; the step came back queued at its old attempt
    and a second worker ran the tool again under the same attempt number.)

    When nothing was claimed, the reason is read (a cold path): a step whose attempts are used
    up (its executions kept dying with their worker) is failed here instead of run again, and
    a step refused because the kill switch is on pauses its run (the ``claim_refused`` hook,
    ``flows.killswitch``).
    """
    claimed = claims.claim(step_id, now=timezone.now(), continued=continued)
    if claimed is not None:
        transitions.step_claimed(claimed.step)  # the run page shows it running
        return claimed
    step = Step.objects.filter(id=step_id).first()
    if step is None or step.status != StepStatus.QUEUED:
        return None
    if step.attempt >= step.max_attempts:
        _exhaust(step)
        return None
    HOOKS.claim_refused(step)
    return None


def _exhaust(step: Step) -> None:
    with transaction.atomic():
        advance = Advance.open(step.run_id)
        step.refresh_from_db()
        if step.status != StepStatus.QUEUED:
            return
        message = (
            f"gave up after {step.attempt} attempts: "
            f"{step.error or 'the worker executing it was lost each time'}"
        )
        advance.fail_step(step, message, "crash")
        advance.drain()


def step_execute(*, step_id: int, eager: bool = False) -> None:
    """The whole life of one delivery of a step message. Idempotent.

    A lost database connection is an infrastructure fault, never the step's failure: the
    claim and the completion reconnect and retry (``with_database``), and a node that loses
    its connection mid-execution fails its attempt as transient (retried while attempts
    remain).

    With ``eager`` (a worker's task), the steps its completion activates in the same run may
    be run here next, without crossing the queue (``flows.engine.continuation``)."""
    if not eager or int(settings.CONTROLROOM["EAGER_CHAIN_MAX"]) <= 0:
        _execute_one(step_id)
        return
    with continuation.chain() as chain:
        _execute_one(step_id)
        next_id = chain.take()
        while next_id is not None:
            _execute_one(next_id, continued=True)
            next_id = chain.take()


@ids.isolated
def _execute_one(step_id: int, *, continued: bool = False) -> None:
    claim = with_database(step_claim, step_id=step_id, continued=continued)
    if claim is None:
        return
    step = claim.step
    run = claims.attach_version(claim.run or Run.objects.get(id=step.run_id))
    ids.bind(run=run.id, step=step.id, node=step.node_id)  # every log line from here on
    continuation.begin(step)
    node_type = REGISTRY[step.node_type]
    heartbeat = _Heartbeat(step.id, claim.attempt)
    graph = for_version(run.version_id, run.version.document)
    config = graph.config(step.node_id)
    step_input = node_type.claimed_input(step.input, config, claim.agent_calls)
    outputs = claim.outputs if claim.outputs is not None else context.Outputs.load(run.id)
    ctx = NodeContext(
        node_id=step.node_id,
        scope=step.scope,
        config=config,
        variables=context.variables(
            run=run, scope=step.scope, outputs=outputs, step_input=step_input
        ),
        graph=graph,
        idempotency_key=step.idempotency_key,
        subject=run.subject,
        run_id=str(run.id),
        step_input=step_input,
        attempt=claim.attempt,
        step_id=step.id,
        superseded=heartbeat.superseded.is_set,
        run=run,
        policies=_policies(claim, run),
    )
    with heartbeat:
        try:
            with observability.step_scope(
                run_id=run.id,
                step_id=step.id,
                node_id=step.node_id,
                node_type=step.node_type,
                attempt=claim.attempt,
            ):  # a span, when tracing is on
                outcome = node_type.run(ctx)
        except SoftTimeLimitExceeded:
            _failed_attempt(claim, TransientError("the step timed out"))
            return
        except StepError as exc:
            with_database(_failed_attempt, claim, exc)
            return
        except INFRASTRUCTURE_ERRORS as exc:
            logger.warning("step %s lost its database connection: %s", step_id, exc)
            connection.close()  # the next statement opens a fresh one
            lost = TransientError(f"database connection lost: {type(exc).__name__}: {exc}")
            with_database(_failed_attempt, claim, lost)
            return
        except Exception as exc:  # a bug or an unclassified failure: recorded, not retried
            logger.exception("step %s crashed", step_id)
            crash = StepError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
            crash.error_class = "crash"  # type: ignore[misc]
            with_database(_failed_attempt, claim, crash)
            return
    with_database(_complete, claim, outcome)


# A database connection lost or refused (a restart, a failover, a network blip).
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)


def with_database[T](func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``func`` (one database transaction of the step's life), retrying it after a lost
    connection: the broken connection is closed, and the call is made again on a fresh one
    with backoff, for up to ``DATABASE_RETRY_SECONDS``. Precondition: ``func`` is one atomic
    transaction fenced by the step's attempt, so running it again after a failure is safe.

    Past the deadline the error propagates: the step stays running with its heartbeat lapsing,
    and the reconciler requeues it (attempts are capped in the database).
    """
    deadline = time.monotonic() + float(settings.CONTROLROOM["DATABASE_RETRY_SECONDS"])
    delay = 0.2
    while True:
        try:
            return func(*args, **kwargs)
        except INFRASTRUCTURE_ERRORS as exc:
            connection.close()
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _fenced(claim: Claim, *, usage: Usage | None = None) -> tuple[Advance, Step] | None:
    """Lock the run and re-read the step; None if this attempt no longer owns it. With
    ``usage``, the lock adds it to the run's totals (``Advance.open``): a caller that gets
    None must roll its transaction back."""
    advance = Advance.open(claim.step.run_id, usage=usage)
    step = Step.objects.get(id=claim.step.id)
    if step.status != StepStatus.RUNNING or step.attempt != claim.attempt:
        logger.info("step %s attempt %s was superseded; result discarded", step.id, claim.attempt)
        return None
    return advance, step


def _policies(claim: Claim, run: Run) -> list[Any] | None:
    """The run's policies from the claim's snapshot of the policy rows, with the document's."""
    if claim.policies is None:
        return None
    document = run.version.document
    slug = str(document.get("slug") or "")
    stored = claim.policies
    return [*stored, *document_policies(document, flow_slug=slug, stored=stored)]


def _complete(claim: Claim, outcome: Any) -> None:
    """Apply what the node decided, in one transaction with the next activations.

    A success (the hot path) is fenced by its own compare-and-set: the step moves to
    ``succeeded`` only while it is still running at this attempt; otherwise everything this
    transaction did (the run's usage included) rolls back. Other outcomes re-read the step
    under the run lock first."""
    with transaction.atomic(), batch.batched():
        if not isinstance(outcome, Done):
            fenced = _fenced(claim)
            if fenced is None:
                return
            advance, step = fenced
            advance.apply(step, outcome)
            advance.drain()
            return
        advance = Advance.open(claim.step.run_id, usage=outcome.usage)
        advance.policies = _policies(claim, advance.run)
        if not advance.succeed(claim.step, outcome, attempt=claim.attempt, usage_added=True):
            logger.info(
                "step %s attempt %s was superseded; result discarded",
                claim.step.id,
                claim.attempt,
            )
            transaction.set_rollback(True)
            return
        advance.drain()


def backoff_seconds(step: Step, config: dict[str, Any], retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a provider's Retry-After wins when longer."""
    policy = config.get("retry") or {}
    base = float(policy.get("backoff_seconds", 2.0))
    cap = float(policy.get("max_backoff_seconds", 300.0))
    delay = min(cap, base * (2 ** max(step.attempt - 1, 0)))
    delay = random.uniform(delay / 2, delay)
    return max(delay, retry_after or 0.0)


def _failed_attempt(claim: Claim, error: StepError) -> None:
    """Record a failed attempt: queue the step again (a transient failure with attempts
    left, after a backoff) or fail it for good along its failure path (``Advance.fail_step``).

    What the attempt spent (``error.usage``, e.g. an agent's escalated stage before its last
    stage failed) is billed either way, in this same transaction: the statement that locks
    the run adds it to the run's totals. A step failing for good keeps it on its row (billed
    per model when it ends); a retried attempt is billed per model now and said in the
    step's history, since the step's row will hold only its last attempt's usage. Each
    attempt is billed once; a superseded attempt rolls back and bills nothing."""
    # Stored errors never carry a secret (a provider echoing its key, a traceback): redacted
    # before the step, its history and the run keep them; outside the transaction it may read.
    error.message = redact(error.message)
    error.details = redact_value(error.details)  # e.g. a failed stage's reason in ``routing``
    usage = error.usage
    with transaction.atomic(), batch.batched():
        fenced = _fenced(claim, usage=usage)
        if fenced is None:
            transaction.set_rollback(True)  # the usage the lock added is not this attempt's
            return
        advance, step = fenced
        if error.error_class == "transient" and step.attempt < step.max_attempts:
            config = advance.graph.config(step.node_id)
            delay = backoff_seconds(step, config, error.retry_after)
            data: dict[str, Any] = {"retry_in_seconds": round(delay, 3), "error": error.message}
            if usage is not None:
                data["spent"] = roi_facts.fact_attempt_spent(
                    step=step, usage=usage, routing=error.details.get("routing")
                )
            transitions.step_move(
                step,
                StepStatus.QUEUED,
                error=error.message,
                error_class=error.error_class,
                due_at=timezone.now() + timedelta(seconds=delay),
                enqueued_at=None,
                data=data,
            )
            return
        advance.fail_step(
            step,
            error.message,
            error.error_class,
            usage=usage,
            details=error.details,
            usage_added=True,
        )
        advance.drain()


class _Heartbeat:
    """Refreshes ``heartbeat_at`` while a step executes: the reconciler treats a running step
    whose heartbeat lapsed as lost with its worker.

    The beats come from one thread per process (``_Beater``) with its own database
    connection, for every step executing in the process; entering and leaving costs no
    thread start, so a step of a few milliseconds pays nothing for its heartbeat.
    """

    def __init__(self, step_id: int, attempt: int) -> None:
        self.step_id = step_id
        self.attempt = attempt
        # Set when a beat finds the step no longer running at this attempt: the node stops
        # before its next tool call (``NodeContext.superseded``).
        self.superseded = threading.Event()

    def __enter__(self) -> _Heartbeat:
        _beater().watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _beater().forget(self)

    def beat_once(self) -> bool:
        """Refresh the heartbeat; False once the step has moved on from this attempt (it is no
        longer running, or runs at a newer attempt)."""
        beaten = Step.objects.filter(
            id=self.step_id, status=StepStatus.RUNNING, attempt=self.attempt
        ).update(heartbeat_at=timezone.now())
        if beaten:
            return True
        # Superseded only if the step is there to see: a row this connection cannot see (not
        # yet committed, as in a test driving steps inside its transaction) proves nothing.
        return not Step.objects.filter(id=self.step_id).exists()


class _Beater:
    """The process's heartbeat thread: every ``HEARTBEAT_SECONDS`` it beats each step that
    has been executing for at least that long. Started on first use, and again in a forked
    child (threads do not survive ``fork``)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.interval = float(settings.CONTROLROOM["HEARTBEAT_SECONDS"])
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[_Heartbeat, float]] = {}
        self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
        self._thread.start()

    def watch(self, heartbeat: _Heartbeat) -> None:
        with self._lock:
            self._watched[id(heartbeat)] = (heartbeat, time.monotonic())

    def forget(self, heartbeat: _Heartbeat) -> None:
        with self._lock:
            self._watched.pop(id(heartbeat), None)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                due = [
                    heartbeat
                    for heartbeat, since in self._watched.values()
                    if time.monotonic() - since >= self.interval
                ]
            for heartbeat in due:
                try:
                    if not heartbeat.beat_once():
                        heartbeat.superseded.set()
                        self.forget(heartbeat)
                except Exception:
                    # One failed write (a database blip) must not end the heartbeats: the
                    # next beat reconnects.
                    logger.warning("heartbeat for step %s failed", heartbeat.step_id, exc_info=True)
                    connection.close()
            with self._lock:
                idle = not self._watched
            if idle:
                connection.close()  # nothing executing: hold no connection meanwhile


_BEATER: _Beater | None = None
_BEATER_LOCK = threading.Lock()


def _beater() -> _Beater:
    global _BEATER
    with _BEATER_LOCK:
        if _BEATER is None or _BEATER.pid != os.getpid():
            _BEATER = _Beater()
        return _BEATER
