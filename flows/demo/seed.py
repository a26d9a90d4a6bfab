"""The living demo: the demo flows' history, executed by the real engine.

A first `make run` should not open on zeros. ``demo_seed`` gives the demo workspace a past and
a present, all through the engine (real runs of the published demo flows on scripted agents,
never inserted rows):

- **Now**: a couple of runs per flow started the normal way, published to the Celery
  workers; those that reach an approval wait for a person in the inbox.
- **Earlier today and the past weeks**: runs on each day (fewer at weekends, a gentle upward trend),
  executed in this process with the engine's clock set back (``flows.demo.clock``), each in
  one transaction so no other process sees a half-run past. Approvals are opened and decided
  by demo approvers (approved, edited or rejected, with a review time the "API" reports), and
  for some succeeded runs the flow's outcome metric is reported some hours later. Their
  e-mails are marked as never delivered (transport ``demo``): history is not re-sent now.

Demo data is labelled wherever it appears (``Flow.demo``, "demo" badges) and removed with
``manage.py demo_remove`` (``flows.demo.remove``). Seeding is resumable: every run carries an
idempotency key naming its flow, day and number, so a seeder stopped half-way (Ctrl-C during
the first `make run`) carries on where it stopped at the next start and never doubles a day.
Inputs come from ``scenarios/<slug>.json`` (``{"inputs": [...]}``), else the sample input.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import OutboxMessage
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from controlroom.startup import startup_stamp_matches, startup_stamp_record
from flows.approvals.decisions import ApprovalError, Decision, approval_decide, approval_open
from flows.approvals.review import API
from flows.demo import DEMO_DIR, REMOVED_STAMP
from flows.demo.clock import SimulatedClock, simulated
from flows.engine import nodes, reconciler, runner, runs
from flows.engine.scheduler import publish_deferred
from flows.models import Approval, Flow, Run, Step
from flows.states import RUN_TERMINAL
from flows.triggers.outcomes import outcome_record

SEED_STAMP = "demo-seed"
SEED_VERSION = "1"
DAYS = 28
TODAY_RUNS = 2
#: The demo's approvers, named so nobody mistakes them for people.
APPROVERS = ("demo-approver-ana", "demo-approver-ben", "demo-approver-chen")
#: What demo approvers say and add, unless the flow's scenario file names its own
#: (``reject_reasons``, ``edit_notes``).
REJECT_REASONS = (
    "Not ready to go out: needs a second look.",
    "Inaccurate: check it against the source before sending.",
    "Already handled by a person.",
)
EDIT_NOTES = (
    "\n\nKind regards,\nThe team",
    "\n\n(Checked and adjusted by a reviewer.)",
)
MAX_MOVES = 500


@dataclass
class SeedReport:
    today: int = 0
    past: int = 0
    existing: int = 0
    outcomes: int = 0
    errors: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    skipped: str = ""


def seed_needed() -> str:
    """Why seeding would do nothing now ("" when it has work): removed, done, or no flows."""
    if startup_stamp_matches(name=REMOVED_STAMP, digest="removed"):
        return "the demo was removed (manage.py load_demo brings it back)"
    if startup_stamp_matches(name=SEED_STAMP, digest=SEED_VERSION):
        return "the demo history is already there"
    if not Flow.objects.filter(demo=True, live_version__isnull=False).exists():
        return "no demo flows are loaded"
    return ""


def scenario(flow: Flow) -> dict[str, Any]:
    """``scenarios/<slug>.json`` of ``flow``: ``inputs`` to run it on (else its sample input),
    and optionally the ``reject_reasons`` and ``edit_notes`` its demo approvers use."""
    path = DEMO_DIR / "scenarios" / f"{flow.slug}.json"
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if not found.get("inputs"):
        assert flow.live_version is not None
        found["inputs"] = [flow.live_version.document.get("sample_input") or {}]
    return found


def scenario_inputs(flow: Flow) -> list[dict[str, Any]]:
    return list(scenario(flow)["inputs"])


def demo_seed(
    *,
    days: int = DAYS,
    today_runs: int = TODAY_RUNS,
    now: datetime | None = None,
    force: bool = False,
    say: Callable[[str], None] = lambda _line: None,
) -> SeedReport:
    """Give the demo flows today's runs and ``days`` days of history (see the module
    docstring); unless ``force``, nothing when ``seed_needed()`` says so. Deterministic for a
    given ``now``: the same flows, inputs and decisions on the same days."""
    report = SeedReport()
    if not force and (why := seed_needed()):
        report.skipped = why
        return report
    now = now or timezone.now()
    flows = list(Flow.objects.filter(demo=True).exclude(live_version=None).order_by("slug"))
    approvers = [user_ensure(username=name, role=Role.APPROVER) for name in APPROVERS]
    seeder = _Seeder(report=report, approvers=approvers)
    for flow in flows:
        for number, data in enumerate(_cycle(scenario_inputs(flow), today_runs)):
            seeder.today(flow, data, key=f"demo:live:{now.date()}:{number}")
    say(f"demo: {report.today} runs started today")
    # Today's earlier hours first, then the past days newest first: the dashboards fill from
    # the recent end.
    cutoff = now - timedelta(minutes=15)
    for back in range(days + 1):
        day = now.date() - timedelta(days=back)
        for flow in flows:
            for number, (at, data) in enumerate(seeder.plan(flow, day, back, days)):
                if at >= cutoff:
                    continue
                try:
                    seeder.past(flow, data, at=at, key=f"demo:{day}:{number}")
                except Exception as exc:  # one run's trouble (rolled back) never stops the rest
                    report.errors += 1
                    say(f"demo: {flow.slug} on {day} #{number} not seeded: {exc}")
        say(f"demo: {day} done ({report.past} past runs so far)")
    startup_stamp_record(name=SEED_STAMP, digest=SEED_VERSION)
    return report


def _cycle(inputs: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    for number in range(count):
        yield inputs[number % len(inputs)]


class _Seeder:
    def __init__(self, *, report: SeedReport, approvers: list[Any]) -> None:
        self.report = report
        self.approvers = approvers
        # Seeded per flow and day (plans) and per run (what people do): resuming never
        # changes what the remaining runs do.
        self.rng = random.Random(0)
        self.words: dict[str, Any] = {}
        self.offsets: dict[str, int] = {}

    def plan(
        self, flow: Flow, day: date, back: int, days: int
    ) -> list[tuple[datetime, dict[str, Any]]]:
        """When ``flow`` ran on ``day`` and on what: 1-3 runs on weekdays (more recently: the
        trend), 0-1 at weekends, in working hours."""
        self.rng = random.Random(f"{flow.slug}:{day}")  # the same plan at every resume
        weekend = day.weekday() >= 5
        growth = 1.0 + (days - back) / max(days, 1)
        count = (
            self.rng.choice((0, 0, 1)) if weekend else round(self.rng.uniform(0.6, 1.6) * growth)
        )
        inputs = scenario_inputs(flow)
        offset = self.offsets.get(flow.slug, 0)
        self.offsets[flow.slug] = offset + count
        moments = sorted(
            datetime.combine(day, time(8), tzinfo=UTC)
            + timedelta(seconds=self.rng.uniform(0, 10 * 3600))
            for _ in range(count)
        )
        return [(at, inputs[(offset + n) % len(inputs)]) for n, at in enumerate(moments)]

    def today(self, flow: Flow, data: dict[str, Any], *, key: str) -> None:
        """A run started as any other: the workers execute it, its approvals wait for people."""
        _run, created = runs.run_start(flow=flow, input=data, idempotency_key=key)
        self._count(created, "today")

    def past(self, flow: Flow, data: dict[str, Any], *, at: datetime, key: str) -> None:
        clock = SimulatedClock(at)
        self.rng = random.Random(f"{flow.slug}:{key}")
        self.words = scenario(flow)
        with simulated(clock), transaction.atomic(), publish_deferred():
            run, created = runs.run_start(flow=flow, input=data, idempotency_key=key)
            self._count(created, "past")
            if not created:
                return
            run = self._drive(run, clock)
            _mark_history_mail(run, clock.now())
            if run.status == "succeeded":
                self._outcome(flow, run, clock)

    def _count(self, created: bool, kind: str) -> None:
        if not created:
            self.report.existing += 1
        elif kind == "today":
            self.report.today += 1
        else:
            self.report.past += 1

    def _drive(self, run: Run, clock: SimulatedClock) -> Run:
        """Execute the run's steps here until it ends; people decide what waits for them."""
        for _ in range(MAX_MOVES):
            run.refresh_from_db()
            if run.status in RUN_TERMINAL:
                return run
            family = _family(run)
            step = Step.objects.filter(run_id__in=family, status="queued").order_by("id").first()
            if step is not None:
                clock.advance(self.rng.uniform(0.05, 0.3))  # the hop to a worker
                if step.due_at is not None:
                    clock.move_to(step.due_at)
                runner.step_execute(step_id=step.id)
                continue
            approval = Approval.objects.filter(run_id__in=family, status="pending").first()
            if approval is not None:
                self._decide(approval, clock)
                continue
            due = (
                Step.objects.filter(
                    run_id__in=family,
                    status="waiting",
                    node_type__in=nodes.waking_at_due_time(),
                )
                .exclude(due_at=None)
                .order_by("due_at")
                .values_list("due_at", flat=True)
                .first()
            )
            if due is None:
                return run  # stalled on something the demo cannot give: left as it is
            clock.move_to(due)
            reconciler.fire_due_waits()
        return run

    def _decide(self, approval: Approval, clock: SimulatedClock) -> None:
        """A demo approver opens the approval after a while and decides it: approve (most),
        edit then approve, or reject with a reason."""
        user = self.rng.choice(self.approvers)
        clock.advance(self.rng.uniform(2, 40) * 60)
        approval_open(approval_id=approval.id, user=user)
        review = round(self.rng.uniform(25, 240), 1)
        clock.advance(review)
        roll = self.rng.random()
        notes = self.words.get("edit_notes") or EDIT_NOTES
        reasons = self.words.get("reject_reasons") or REJECT_REASONS
        edited = _edited(approval.draft, self.rng.choice(notes))
        output, reason = None, ""
        if roll < 0.15:
            kind, action, reason = "rejected", "reject", self.rng.choice(reasons)
        elif roll < 0.40 and edited is not None:
            kind, action, output = "edited", "approve", edited
        else:
            kind, action = "approved", "approve"
        decision = Decision(
            action,
            output=output,
            reason=reason,
            shown_hash=approval.shown_hash,
            channel=API,
            review_seconds=review,
        )
        try:
            approval_decide(approval_id=approval.id, user=user, decision=decision)
        except ApprovalError as exc:
            if exc.code != "invalid_edit":
                raise
            # This draft takes no free text (a tie's winner, a tool call's schema): the
            # approver approves it as shown instead.
            kind = "approved"
            decision = Decision(
                "approve", shown_hash=approval.shown_hash, channel=API, review_seconds=review
            )
            approval_decide(approval_id=approval.id, user=user, decision=decision)
        self.report.decisions[kind] = self.report.decisions.get(kind, 0) + 1

    def _outcome(self, flow: Flow, run: Run, clock: SimulatedClock) -> None:
        """For about 60 % of succeeded runs, the flow's outcome arrives hours later."""
        assert flow.live_version is not None
        document = flow.live_version.document
        metric = (document.get("roi") or {}).get("success_outcome") or (
            document.get("feedback") or {}
        ).get("outcome")
        if not metric or not run.subject or self.rng.random() > 0.6:
            return
        clock.advance(self.rng.uniform(1, 30) * 3600)
        outcome_record(
            subject=run.subject,
            metric=metric,
            run_id=run.id,
            occurred_at=clock.now(),
            event_key=f"demo:{run.id}:{metric}",
        )
        self.report.outcomes += 1


def _edited(draft: Any, note: str) -> Any:
    """What a demo approver's edit makes of ``draft``: ``note`` added to its text (the first
    text field of an object); None when there is no text to edit."""
    if isinstance(draft, str) and draft:
        return draft + note
    if isinstance(draft, dict):
        for name, value in draft.items():
            if isinstance(value, str) and value and "@" not in value:
                return {**draft, name: value + note}
    return None


def _family(run: Run) -> list[Any]:
    """The run and every subflow run below it."""
    ids = [run.id]
    frontier = ids
    while frontier:
        frontier = list(
            Run.objects.filter(parent_step__run_id__in=frontier).values_list("id", flat=True)
        )
        ids += frontier
    return ids


def _mark_history_mail(run: Run, at: datetime) -> None:
    """The past run's e-mails are history: recorded as never delivered, not sent now."""
    OutboxMessage.objects.filter(
        run_id__in=_family(run), status=OutboxMessage.Status.PENDING
    ).update(
        status=OutboxMessage.Status.SENT,
        sent_at=at,
        transport="demo (history, not delivered)",
        next_attempt_at=None,
    )
