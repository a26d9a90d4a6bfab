"""JSON log lines: one object per line, carrying the run and step ids bound by the runner."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from controlroom.observability import context
from controlroom.observability.logs import JsonFormatter


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = JsonFormatter().format(record)
    assert "\n" not in text
    return json.loads(text)


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "flows.engine.runner", logging.WARNING, __file__, 1, message, args, None
    )
    record.__dict__.update(extra)
    return record


def test_a_line_outside_any_step_has_no_ids() -> None:
    line = _line(_record("hello %s", "world"))
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING" and line["logger"] == "flows.engine.runner"
    assert str(line["ts"]).endswith("Z")
    assert "run_id" not in line and "step_id" not in line


def test_lines_inside_a_step_carry_its_run_and_step_ids_and_extras() -> None:
    run = uuid.uuid4()
    with context.bound(run=run, step=42, node="draft"):
        line = _line(_record("step done", attempt=2, odd={1, 2}))
    assert line["run_id"] == str(run) and line["step_id"] == 42 and line["node_id"] == "draft"
    assert line["attempt"] == 2
    assert line["odd"] == repr({1, 2})
    # Unbound again after the block: the next task's lines do not inherit the ids.
    assert "run_id" not in _line(_record("later"))


def test_exceptions_are_one_line_with_the_traceback_inside() -> None:
    try:
        raise ValueError("multi\nline")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = _line(record)
    assert "ValueError: multi\nline" in str(line["exc"])


@pytest.mark.django_db
def test_the_runner_tags_a_crashing_steps_log_lines_and_forgets_them_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.engine import runner, runs
    from flows.engine.nodes import REGISTRY
    from flows.models import Step
    from tests.support.flows import document, node, save, scripted

    flow = save(
        document(
            "logged",
            [node("draft", "agent", agent="writer", prompt="hi")],
            [],
            agents=[scripted("writer", "done")],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    step = Step.objects.get(run=run)

    def explode(ctx: object) -> None:
        raise RuntimeError("a bug in a node")

    monkeypatch.setattr(REGISTRY["agent"], "run", explode)
    lines: list[dict[str, object]] = []

    class JsonLines(logging.Handler):  # formats as it emits, like the console handler
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = JsonLines()
    logging.getLogger("flows.engine.runner").addHandler(handler)
    try:
        runner.step_execute(step_id=step.id)
    finally:
        logging.getLogger("flows.engine.runner").removeHandler(handler)
    line = next(entry for entry in lines if entry["message"] == f"step {step.id} crashed")
    assert line["run_id"] == str(run.id) and line["step_id"] == step.id
    assert line["node_id"] == "draft" and "RuntimeError: a bug in a node" in str(line["exc"])
    assert context.current() == {}  # the next task in this process starts clean
