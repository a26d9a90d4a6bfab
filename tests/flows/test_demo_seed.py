"""The living demo: history executed by the engine with its clock set back, labelled, removable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import OutboxMessage, ToolCall
from controlroom.models import StartupStamp
from flows.demo import demo_documents, demo_load
from flows.demo.clock import SimulatedClock, simulated
from flows.demo.remove import demo_remove
from flows.demo.seed import APPROVERS, demo_seed, seed_needed
from flows.models import Approval, Flow, Run, Step
from flows.roi.rollups import rollup_fold_all
from flows.roi.selectors import flow_dashboard
from flows.triggers.models import Outcome

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # a Tuesday


def _past():
    """Runs of the history (executed here with the clock set back), not today's live ones."""
    return Run.objects.filter(flow__demo=True).exclude(idempotency_key__startswith="demo:live:")


@pytest.fixture
def workspace(settings, tmp_path):
    settings.ENV = type(settings.ENV)(**{**settings.ENV.__dict__, "data_dir": tmp_path})
    return demo_load(password="demo-password-1")


@pytest.fixture
def seeded(workspace):
    return demo_seed(days=4, today_runs=1, now=NOW)


def test_the_simulated_clock_drives_timezone_now_and_scripted_latency():
    clock = SimulatedClock(NOW)
    with simulated(clock):
        assert timezone.now() == NOW
        clock.advance(90)
        assert timezone.now() == NOW + timedelta(seconds=90)
        clock.move_to(NOW)  # never back
        assert timezone.now() == NOW + timedelta(seconds=90)
    assert timezone.now() > NOW + timedelta(days=365 * 10) or timezone.now() != clock.now()


def test_past_runs_are_real_engine_runs_on_their_days(seeded):
    past = _past().filter(parent_step=None)
    assert past.count() == seeded.past > 0
    days = {run.created_at.date() for run in past}
    assert days <= {(NOW - timedelta(days=n)).date() for n in range(5)}
    assert len(days) >= 3
    assert all(run.created_at < NOW - timedelta(minutes=15) for run in past)
    # Executed, not inserted: every past run ended, through steps whose times are its own.
    for run in past:
        assert run.status in ("succeeded", "failed", "cancelled"), (run.flow.slug, run.status)
        steps = Step.objects.filter(run=run)
        assert steps.exists()
        assert all(
            s.finished_at is None or s.finished_at.date() >= run.created_at.date() for s in steps
        )
        assert run.finished_at - run.created_at < timedelta(days=3)


def test_people_decided_the_past_approvals_and_outcomes_came_back(seeded):
    decided = Approval.objects.filter(run__in=_past())
    assert decided.exists()
    assert not decided.filter(status="pending").exists()
    assert set(decided.values_list("resolution", flat=True)) <= {"approved", "edited", "rejected"}
    assert set(decided.values_list("decided_by__username", flat=True)) <= set(APPROVERS)
    assert all(a.review_ms and a.review_source == "api" for a in decided)
    assert sum(seeded.decisions.values()) == decided.count()
    outcomes = Outcome.objects.filter(run__flow__demo=True)
    assert outcomes.count() == seeded.outcomes > 0
    assert all(o.occurred_at > o.run.created_at for o in outcomes)


def test_history_mail_is_never_sent_now(seeded):
    past_ids = _past().values_list("id", flat=True)
    mail = OutboxMessage.objects.filter(run_id__in=list(past_ids))
    assert mail.exists()
    assert set(mail.values_list("transport", flat=True)) == {"demo (history, not delivered)"}
    assert not mail.filter(status="pending").exists()


def test_today_runs_go_to_the_workers_and_roi_shows_the_weeks(seeded):
    today = Run.objects.filter(idempotency_key__startswith="demo:live:")
    assert today.count() == seeded.today == len(demo_documents())
    assert Step.objects.filter(run__in=today, status="queued").exclude(enqueued_at=None).exists()
    rollup_fold_all()
    flow = Flow.objects.get(slug="lead-to-meeting")
    board = flow_dashboard(flow=flow, since=(NOW - timedelta(days=6)).date(), until=NOW.date())
    assert board.volume["runs"] > 0
    assert len([day for day in board.days if day["runs"]]) >= 2  # a trend, not one day


def test_seeding_is_resumable_and_runs_once(seeded):
    assert seed_needed() == "the demo history is already there"
    assert demo_seed(days=4, today_runs=1, now=NOW).skipped
    again = demo_seed(days=4, today_runs=1, now=NOW, force=True)
    assert again.past == again.today == 0
    assert again.existing == seeded.past + seeded.today


def test_one_command_removes_the_demo_and_keeps_it_away(seeded):
    runs = list(Run.objects.filter(flow__demo=True).values_list("id", flat=True))
    report = demo_remove()
    assert sorted(report.flows) == sorted(d["slug"] for d in demo_documents())
    assert report.runs == len(runs)
    assert not Flow.objects.filter(demo=True).exists()
    assert not Run.objects.exists()
    assert not Outcome.objects.exists()
    assert not ToolCall.objects.filter(run_id__in=runs).exists()
    assert not OutboxMessage.objects.filter(run_id__in=runs).exists()
    assert not get_user_model().objects.filter(username__in=APPROVERS).exists()
    # `make run` keeps it away; an explicit load brings it back, and the seeder with it.
    assert demo_load(if_changed=True).skipped
    assert not Flow.objects.exists()
    assert get_user_model().objects.filter(username="admin").exists()
    assert "removed" in seed_needed()
    demo_load(password="demo-password-1")
    assert Flow.objects.filter(demo=True).count() == len(demo_documents())
    assert not StartupStamp.objects.filter(name="demo-removed").exists()
    assert seed_needed() == ""
