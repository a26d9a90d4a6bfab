"""The control-room home: counters, worker and queue health, the stuck-run alarm and its
one-click requeue and cancel, and the live fragments its websocket subscription sends."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows import home
from flows.engine import runs
from flows.live import ControlRoomHome
from flows.models import Flow, Run, RunEvent, Step
from flows.states import RunStatus, StepStatus
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast() -> dict[str, Any]:
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def flow() -> Flow:
    return save(
        document(
            "home-flow",
            [
                node("draft", "agent", agent="writer", prompt="{{ input.topic }}"),
                node("review", "approval", title="Check", draft="{{ steps.draft.output }}"),
            ],
            [("draft", "review")],
            agents=[scripted("writer", "a draft", price_in_per_1k="1", price_out_per_1k="1")],
        )
    )


def _age(run: Run, seconds: float) -> None:
    """Make everything the run recorded look ``seconds`` old."""
    then = timezone.now() - timedelta(seconds=seconds)
    Run.objects.filter(id=run.id).update(created_at=then)
    RunEvent.objects.filter(run=run).update(at=then)
    Step.objects.filter(run=run).update(created_at=then, enqueued_at=then)


def test_counters_count_in_flight_waiting_failed_and_spend(flow: Flow) -> None:
    runs.run_start(flow=flow, input={"topic": "a"})
    parked = drive(runs.run_start(flow=flow, input={"topic": "b"})[0])
    assert parked.status == RunStatus.WAITING_APPROVAL
    failed, _ = runs.run_start(flow=flow, input={"topic": "c"})
    Run.objects.filter(id=failed.id).update(
        status=RunStatus.FAILED, finished_at=timezone.now() - timedelta(hours=1)
    )
    old_failure, _ = runs.run_start(flow=flow, input={"topic": "d"})
    Run.objects.filter(id=old_failure.id).update(
        status=RunStatus.FAILED, finished_at=timezone.now() - timedelta(hours=30)
    )
    counters = home.home_counters()
    assert counters.in_flight == 2  # queued + waiting for approval
    assert counters.approvals_waiting == 1
    assert counters.oldest_approval is not None and counters.oldest_approval.run_id == parked.id
    assert counters.failures_24h == 1
    parked.refresh_from_db()
    assert parked.cost > 0
    assert counters.spend_today == Decimal(parked.cost)


def test_a_run_with_nothing_moving_for_too_long_is_stuck(flow: Flow, settings: Any) -> None:
    run, _ = runs.run_start(flow=flow, input={"topic": "a"})
    fresh, _ = runs.run_start(flow=flow, input={"topic": "b"})
    assert home.stuck_runs() == []
    _age(run, home.stuck_after().total_seconds() + 60)
    stuck = home.stuck_runs()
    assert [r.id for r in stuck] == [run.id]
    last_progress = stuck[0].last_progress_at  # type: ignore[attr-defined]  # annotated
    assert last_progress < timezone.now() - home.stuck_after()
    # A running step with a fresh heartbeat is progress: its worker is alive.
    Step.objects.filter(run=run).update(
        status=StepStatus.RUNNING, attempt=1, heartbeat_at=timezone.now()
    )
    assert home.stuck_runs() == []
    assert fresh.id not in [r.id for r in home.stuck_runs()]


def test_requeue_republishes_queued_steps_and_requeues_lapsed_ones(
    flow: Flow, cast: dict[str, Any]
) -> None:
    run, _ = runs.run_start(flow=flow, input={"topic": "a"})
    _age(run, home.stuck_after().total_seconds() + 60)
    step = Step.objects.get(run=run)
    response = client_for(cast["designer"]).post(
        f"/home/runs/{run.id}/requeue/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"1 step(s) requeued" in response.content
    step.refresh_from_db()
    assert step.enqueued_at is not None and step.enqueued_at > timezone.now() - timedelta(minutes=1)
    assert RunEvent.objects.filter(run=run, kind="run.requeued", data__by="designer").exists()
    assert home.stuck_runs() == []  # the requeue is progress
    # A running step whose heartbeat lapsed goes back to queued, through the engine's move.
    Step.objects.filter(id=step.id).update(
        status=StepStatus.RUNNING, attempt=1, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    again = client_for(cast["admin"]).post(f"/home/runs/{run.id}/requeue/", HTTP_HX_REQUEST="true")
    assert b"1 step(s) requeued" in again.content  # requeued and republished: one step
    step.refresh_from_db()
    assert step.status == StepStatus.QUEUED and step.error_class == "crash"
    assert RunEvent.objects.filter(step=step, kind="step.moved", to_status="queued").exists()


def test_cancel_from_the_alarm_cancels_the_run(flow: Flow, cast: dict[str, Any]) -> None:
    run, _ = runs.run_start(flow=flow, input={"topic": "a"})
    response = client_for(cast["designer"]).post(f"/home/runs/{run.id}/cancel/")
    assert response.status_code == 302 and response["Location"] == "/"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and "stuck-run alarm by designer" in run.error
    again = client_for(cast["designer"]).post(
        f"/home/runs/{run.id}/cancel/", HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 200
    assert f'<p class="callout callout-note">Run {str(run.id)[:8]} cancelled.</p>' in (
        again.content.decode()
    )
    assert b'id="home-stuck"' in again.content and b'hx-swap-oob="true"' in again.content


@pytest.mark.parametrize("role", ["viewer", "approver", "outsider"])
def test_only_operators_may_requeue_or_cancel(flow: Flow, cast: dict[str, Any], role: str) -> None:
    run, _ = runs.run_start(flow=flow, input={"topic": "a"})
    client = client_for(cast[role])
    assert client.post(f"/home/runs/{run.id}/requeue/").status_code == 403
    assert client.post(f"/home/runs/{run.id}/cancel/").status_code == 403
    run.refresh_from_db()
    assert run.status != RunStatus.CANCELLED


def test_home_page_shows_counters_feed_and_alarm(flow: Flow, cast: dict[str, Any]) -> None:
    run, _ = runs.run_start(flow=flow, input={"topic": "a"})
    _age(run, home.stuck_after().total_seconds() + 60)
    page = client_for(cast["designer"]).get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-counter="in_flight"' in html and f"run-row-{run.id}" in html
    assert f'id="stuck-{run.id}"' in html and "Requeue" in html
    assert "subscribe=inbox%2Chome%2Cruns" in html
    viewer = client_for(cast["viewer"]).get("/").content.decode()
    assert f'id="stuck-{run.id}"' in viewer and "Requeue" not in viewer
    panels = client_for(cast["viewer"]).get("/home/panels/").content.decode()
    assert 'id="home-health" class="panel" aria-labelledby="health-title" hx-swap-oob="true"' in (
        panels
    )
    assert 'id="home-stuck"' in panels


def test_live_home_redraws_counters_on_any_event(flow: Flow, cast: dict[str, Any]) -> None:
    subscription = ControlRoomHome(user=cast["viewer"])
    first = subscription.sync()
    assert len(first) == 3 and all('hx-swap-oob="true"' in part for part in first)
    runs.run_start(flow=flow, input={"topic": "a"})
    parts = subscription.render([{"type": "run.changed", "data": {}}])
    counters = next(part for part in parts if 'id="home-counters"' in part)
    assert 'data-counter="in_flight"' in counters
    assert '<span class="kpi-value">1</span>' in counters
    assert subscription.render([]) == []


def test_queue_depths_read_the_celery_lists() -> None:
    depths = home.queue_depths()
    assert set(depths) == {"steps", "control"}
    assert all(isinstance(value, int) for value in depths.values())
