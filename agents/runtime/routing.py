"""Model routing: an agent's cascade of stages, and judging a stage's answer (JSON and its
schema, a confidence threshold, a check) to accept it or escalate to the next stage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jsonschema

from agents.providers import ModelResponse
from agents.runtime.errors import AgentError, AgentTransientError, OutputRejected
from agents.runtime.loop import StageRun
from controlroom import jsondata

#: What a ``cascade`` stage may set; everything else comes from the agent.
STAGE_FIELDS = (
    "provider", "model", "connection", "temperature", "max_tokens", "json_mode",
    "price_in_per_1k", "price_out_per_1k", "script",
)  # fmt: skip


def agent_stages(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The agent, then each ``cascade`` stage as a full spec: the stage's fields over the
    agent's. A stage on another provider does not inherit the agent's connection or script."""
    stages = [spec]
    for stage in spec.get("cascade") or []:
        merged = {**spec, "cascade": []}
        if stage.get("provider", spec.get("provider")) != spec.get("provider"):
            merged.pop("connection", None)
            merged.pop("script", None)
        merged.update({key: stage[key] for key in STAGE_FIELDS if key in stage})
        stages.append(merged)
    return stages


@dataclass
class Verdict:
    """``problem`` says why the answer should escalate (None: accepted). ``rejected`` is set
    when the answer is unusable (the error to raise if no stage is left)."""

    output: Any = None
    problem: str | None = None
    rejected: AgentError | None = None
    confidence: float | None = None


def judge(
    spec: dict[str, Any], stage: dict[str, Any], response: ModelResponse, variables: dict[str, Any]
) -> Verdict:
    try:
        output = _parse_output(stage, response)
    except OutputRejected as exc:
        return Verdict(problem=str(exc), rejected=exc)
    context = {**variables, "output": output}
    verdict = Verdict(output=output)
    if spec.get("min_confidence") is not None:
        verdict.confidence = _confidence(spec, context)
        threshold = float(spec["min_confidence"])
        if verdict.confidence is None or verdict.confidence < threshold:
            verdict.problem = f"confidence {verdict.confidence} is below {threshold:g}"
            return verdict
    check = spec.get("check")
    if check and not _evaluate(str(check), context):
        verdict.problem = f"check {check!r} does not hold"
    return verdict


def _confidence(spec: dict[str, Any], context: dict[str, Any]) -> float | None:
    """The value of the ``confidence`` expression (default ``output.confidence``), or None
    when it is not a number."""
    from controlroom import expressions

    source = str(spec.get("confidence") or "output.confidence")
    try:
        value = expressions.render("{{ " + source + " }}", context)
    except expressions.ExpressionError as exc:
        raise AgentError(f"agent {spec.get('slug')!r} confidence failed: {exc}") from exc
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def answer_confidence(spec: dict[str, Any], output: Any, variables: dict[str, Any]) -> float | None:
    """The answer's confidence for guardrails (``confidence``, default ``output.confidence``);
    None when it is not a number or cannot be evaluated."""
    try:
        return _confidence(spec, {**variables, "output": output})
    except AgentError:
        return None


def _evaluate(condition: str, context: dict[str, Any]) -> bool:
    from controlroom import expressions

    try:
        return expressions.evaluate(condition, context)
    except expressions.ExpressionError as exc:
        raise AgentError(f"agent check failed: {exc}") from exc


def _parse_output(spec: dict[str, Any], response: ModelResponse) -> Any:
    if spec.get("output", "text") != "json":
        return response.text
    data = response.data
    if data is None:
        try:
            data = jsondata.json_parse(_unfenced(response.text))
        except ValueError as exc:
            raise OutputRejected(
                f"agent {spec.get('slug')!r} did not answer valid JSON: {exc}"
            ) from exc
    schema = spec.get("output_schema")
    if schema:
        try:
            jsonschema.validate(data, schema)
        except jsonschema.ValidationError as exc:
            raise OutputRejected(
                f"agent {spec.get('slug')!r} answer does not match its output schema: {exc.message}"
            ) from exc
    return data


def _unfenced(text: str) -> str:
    """The text without a Markdown code fence around it (models add one despite being told)."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped[3:-3]
        first_line, _, rest = stripped.partition("\n")
        return rest if first_line.strip().isalpha() or not first_line.strip() else stripped
    return stripped


def routing_entry(
    index: int,
    stage: dict[str, Any],
    run: StageRun,
    cost: Decimal,
    verdict: Verdict,
    *,
    last: bool,
) -> dict[str, Any]:
    """One stage as the step shows it: which model answered (``model``, as the provider reported
    it; ``configured_model`` is the stage's setting), what it used and cost, and what became of
    its answer: ``answered`` (it passed), ``escalated`` (``reason`` says why), ``accepted``
    despite ``reason`` (the last stage's answer stands), or ``rejected`` (the last stage broke
    its schema: the step fails)."""
    if verdict.problem is None:
        outcome = "answered"
    elif not last:
        outcome = "escalated"
    else:
        outcome = "rejected" if verdict.rejected is not None else "accepted"
    return {
        **_stage_usage(index, stage, run, cost),
        "confidence": verdict.confidence,
        "outcome": outcome,
        "reason": verdict.problem,
    }


def _stage_usage(index: int, stage: dict[str, Any], run: StageRun, cost: Decimal) -> dict[str, Any]:
    """What a stage called and used: the fields every routing entry starts with."""
    return {
        "stage": index,
        "provider": str(stage.get("provider") or "scripted"),
        "model": run.model,
        "configured_model": str(stage.get("model") or ""),
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost": str(cost),
        "turns": run.turns,
        "tool_calls": run.tool_calls,
    }


def failed_entry(
    index: int, stage: dict[str, Any], run: StageRun, cost: Decimal, error: AgentError
) -> dict[str, Any]:
    """A stage that raised: its provider failed a model call (the cascade goes on to the next
    stage unless it was the last), or it failed otherwise (a tool, a policy, ``max_turns``:
    the step's failure). Same shape as ``routing_entry``, with ``outcome`` ``failed``, the
    error's class (``transient`` or ``final``) and its message in ``reason``, and what its
    earlier turns used (usually nothing)."""
    return {
        **_stage_usage(index, stage, run, cost),
        "confidence": None,
        "outcome": "failed",
        "error_class": "transient" if isinstance(error, AgentTransientError) else "final",
        "reason": str(error),
    }
