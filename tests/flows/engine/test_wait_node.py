"""The ``wait`` node: seconds from a template, and a due time already reached ends it at once."""

from __future__ import annotations

from typing import Any

import pytest

from flows.document import document_problems
from flows.engine import runs
from flows.models import Run, Step
from tests.support.flows import document, drive, node, save

pytestmark = pytest.mark.django_db


def start(seconds: Any, data: dict[str, Any]) -> Run:
    doc = document(
        "pacer",
        [node("pause", "wait", seconds=seconds), node("done", "end", output="ok")],
        [("pause", "done")],
    )
    run, _ = runs.run_start(flow=save(doc), input=data)
    return run


def test_seconds_from_the_input_park_the_run_until_due() -> None:
    run = drive(start("{{ input.days * 86400 }}", {"days": 3}))
    step = Step.objects.get(run=run, node_id="pause")
    assert step.status == "waiting"
    assert step.due_at is not None
    assert (step.due_at - step.created_at).total_seconds() == pytest.approx(3 * 86400, abs=60)


@pytest.mark.parametrize(("seconds", "data"), [(0, {}), ("{{ input.days * 86400 }}", {"days": 0})])
def test_a_wait_already_due_ends_at_once(seconds: Any, data: dict[str, Any]) -> None:
    run = drive(start(seconds, data))
    assert run.status == "succeeded" and run.output == "ok"
    step = Step.objects.get(run=run, node_id="pause")
    assert step.status == "succeeded" and step.due_at is None
    assert isinstance(step.output, dict) and list(step.output) == ["waited_until"]


def test_an_until_in_the_past_ends_at_once() -> None:
    doc = document(
        "past",
        [node("pause", "wait", until="{{ input.at }}"), node("done", "end", output="ok")],
        [("pause", "done")],
    )
    run, _ = runs.run_start(flow=save(doc), input={"at": "2020-01-01T09:00:00+00:00"})
    run = drive(run)
    assert run.status == "succeeded"
    output = Step.objects.get(run=run, node_id="pause").output
    assert output == {"waited_until": "2020-01-01T09:00:00+00:00"}


@pytest.mark.parametrize("seconds", ["soon", -1, True, 10**8, None])
def test_seconds_that_are_not_a_number_in_range_fail_the_step(seconds: Any) -> None:
    run = drive(start("{{ input.seconds }}", {"seconds": seconds}))
    assert run.status == "failed"
    assert "wait seconds must be a number from 0 to 31536000" in run.error


def test_a_seconds_template_is_checked_at_design_time() -> None:
    doc = document(
        "typo",
        [node("pause", "wait", seconds="{{ input.days * }}"), node("done", "end", output="ok")],
        [("pause", "done")],
    )
    problems = [p.pointer for p in document_problems(doc)]
    assert problems == ["/nodes/0/config/seconds"]
    doc["nodes"][0]["config"]["seconds"] = -5
    assert [p.pointer for p in document_problems(doc)] == ["/nodes/0/config/seconds"]
