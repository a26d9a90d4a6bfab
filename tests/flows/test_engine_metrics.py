"""Engine metrics at /metrics (Prometheus text) and /api/metrics (JSON): counted from the
database and Redis at scrape time, so every process reports the same exact numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Flow, Run, Step
from flows.states import RunStatus
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db
TOKEN = "m" * 32


@pytest.fixture
def flow() -> Flow:
    return save(
        document(
            "metered",
            [node("draft", "agent", agent="writer", prompt="{{ input.topic }}")],
            [],
            agents=[
                scripted(
                    "writer",
                    "a draft",
                    model="scripted-1",
                    price_in_per_1k="2",
                    price_out_per_1k="4",
                )
            ],
        )
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _scrape(client: Client | None = None, **headers: Any) -> dict[Any, float]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return _samples(response.content.decode())


def test_counters_match_the_rows(flow: Flow) -> None:
    done = [drive(runs.run_start(flow=flow, input={"topic": t})[0]) for t in ("a", "b")]
    assert all(run.status == RunStatus.SUCCEEDED for run in done)
    cancelled, _ = runs.run_start(flow=flow, input={"topic": "c"})
    runs.run_cancel(run_id=cancelled.id)
    runs.run_start(flow=flow, input={"topic": "d"})  # still queued: active, not finished
    got = _scrape()
    flow_label = (("flow", "metered"),)
    assert got[("controlroom_runs_started_total", flow_label)] == 4
    assert (
        got[("controlroom_runs_finished_total", (("flow", "metered"), ("status", "succeeded")))]
        == 2
    )
    assert (
        got[("controlroom_runs_finished_total", (("flow", "metered"), ("status", "cancelled")))]
        == 1
    )
    active = "controlroom_runs_active"
    in_flight = got[(active, (("status", "running"),))] + got[(active, (("status", "queued"),))]
    assert in_flight == 1
    agent = (("node_type", "agent"), ("status", "succeeded"))
    assert got[("controlroom_steps_finished_total", agent)] == 2
    assert (
        got[("controlroom_steps_finished_total", (("node_type", "agent"), ("status", "cancelled")))]
        == 1
    )
    # The histogram holds the two executed agent steps (the cancelled one never started),
    # cumulative, with their durations' sum.
    hist = "controlroom_step_duration_seconds"
    executed = list(Step.objects.filter(run__in=done))
    seconds = [(s.finished_at - s.started_at).total_seconds() for s in executed]
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in got.items()
        if name == hist + "_bucket" and dict(labels)["node_type"] == "agent"
    )
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)
    assert buckets[-1] == (float("inf"), 2)
    longest = max(seconds)  # every step is counted in each bucket above its duration
    assert all(count == 2 for bound, count in buckets if bound > longest)
    assert got[(hist + "_count", (("node_type", "agent"),))] == 2
    assert got[(hist + "_sum", (("node_type", "agent"),))] == pytest.approx(sum(seconds), abs=0.003)
    steps = Step.objects.filter(run__in=done)
    tokens_in = sum(s.tokens_in for s in steps)
    assert tokens_in > 0
    model = (("direction", "input"), ("model", "scripted-1"))
    assert got[("controlroom_model_tokens_total", model)] == tokens_in
    cost = sum((s.cost for s in steps), Decimal(0))
    assert got[("controlroom_model_cost_total", (("model", "scripted-1"),))] == pytest.approx(
        float(cost)
    )
    assert ("controlroom_queue_depth", (("queue", "steps"),)) in got
    assert ("controlroom_workers_live", ()) in got
    assert got[("controlroom_metrics_source_up", (("source", "engine"),))] == 1


def test_api_metrics_has_the_same_numbers_as_json(flow: Flow) -> None:
    drive(runs.run_start(flow=flow, input={"topic": "a"})[0])
    token = token_issue(user=user_ensure(username="viewer", role=Role.VIEWER))
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/metrics")
    assert response.status_code == 200
    body = response.json()
    by_name = {family["name"]: family for family in body["metrics"]}
    started = by_name["controlroom_runs_started"]
    assert started["type"] == "counter"
    assert started["samples"] == [
        {"name": "controlroom_runs_started_total", "labels": {"flow": "metered"}, "value": 1.0}
    ]
    histogram = by_name["controlroom_step_duration_seconds"]["samples"][0]
    assert histogram["labels"] == {"node_type": "agent"} and histogram["count"] == 1
    assert histogram["buckets"][-1] == {"le": "+Inf", "count": 1.0}
    prometheus = _scrape()
    assert prometheus[("controlroom_runs_started_total", (("flow", "metered"),))] == 1.0


def test_api_metrics_needs_a_token_or_session() -> None:
    response = Client().get("/api/metrics")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_without_a_token_metrics_are_loopback_only(settings: Any) -> None:
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    outside = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 403 and b"loopback only" in outside.content
    proxied = Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 403


def test_with_a_token_every_scrape_needs_it(settings: Any) -> None:
    obs = settings.CONTROLROOM["OBSERVABILITY"]
    settings.CONTROLROOM = {
        **settings.CONTROLROOM,
        "OBSERVABILITY": type(obs)(**{**obs.__dict__, "metrics_token": TOKEN}),
    }
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + "x" * 32)
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    ok = Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200 and b"controlroom_runs_started" in ok.content


def test_a_failing_source_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlroom.observability import metrics

    def broken() -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setitem(metrics._SOURCES, "broken", broken)
    got = _scrape()
    assert got[("controlroom_metrics_source_up", (("source", "broken"),))] == 0
    assert got[("controlroom_metrics_source_up", (("source", "engine"),))] == 1
    assert Run.objects.count() == 0
