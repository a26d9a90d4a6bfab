"""OpenTelemetry traces of a real run on real workers, received by a real OTLP/HTTP endpoint on
loopback and decoded from protobuf: one trace per run, the run span the root (ids derived from
the run's uuid, so every worker process agrees), steps its children, the model call a child of
its step carrying the GenAI semantic-convention attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from controlroom.observability import tracing
from flows.engine import runs
from flows.models import Step
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.loopback_http import LoopbackHTTP, Reply
from tests.support.wait import wait_for

pytestmark = pytest.mark.django_db


def _attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def _spans(server: LoopbackHTTP) -> list[tuple[dict[str, Any], Any]]:
    found = []
    for request in server.received("/v1/traces"):
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                found += [(_attributes(resource.resource), span) for span in scope.spans]
    return found


# committed rows: the run executes on a real worker process, on its own connection
@pytest.mark.django_db(transaction=True)
def test_a_run_on_real_workers_is_one_trace(
    celery_worker_factory: Callable[..., Any], own_beat: Any
) -> None:
    flow = save(
        document(
            "traced",
            [
                node("draft", "agent", agent="writer", prompt="{{ input.topic }}"),
                node("done", "end"),
            ],
            [("draft", "done")],
            agents=[scripted("writer", "a draft about {{ input.topic }}", model="scripted-7")],
        )
    )
    with LoopbackHTTP() as collector:
        collector.route(
            "/v1/traces", Reply(status=200, headers={"Content-Type": "application/x-protobuf"})
        )
        celery_worker_factory(
            env_overrides={
                "CONTROLROOM_OTLP_ENDPOINT": collector.url(""),
                "OTEL_SERVICE_NAME": "controlroom-worker",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            }
        )
        run, _ = runs.run_start(flow=flow, input={"topic": "tracing"})
        assert wait_terminal(run).status == "succeeded"

        def complete() -> list[Any] | None:
            spans = _spans(collector)
            names = {span.name for _, span in spans}
            return (
                spans
                if {"run traced", "step draft", "step done", "chat scripted-7"} <= names
                else None
            )

        spans = wait_for(complete, timeout=30, message="the run's spans at the OTLP receiver")

    by_name = {span.name: (resource, span) for resource, span in spans}
    resource, root = by_name["run traced"]
    assert resource["service.name"] == "controlroom-worker"
    assert root.trace_id == run.id.bytes
    assert int.from_bytes(root.span_id, "big") == tracing.run_span_id_of(run.id)
    assert root.parent_span_id == b""
    root_attributes = _attributes(root)
    assert root_attributes["controlroom.run_id"] == str(run.id)
    assert root_attributes["controlroom.run_status"] == "succeeded"
    assert root.start_time_unix_nano < root.end_time_unix_nano

    draft = Step.objects.get(run=run, node_id="draft")
    _, step_span = by_name["step draft"]
    assert step_span.trace_id == run.id.bytes and step_span.parent_span_id == root.span_id
    assert _attributes(step_span)["controlroom.step_id"] == draft.id
    assert _attributes(step_span)["controlroom.attempt"] == 1

    _, end_span = by_name["step done"]  # ran inline: recorded from its row at the run's end
    assert end_span.trace_id == run.id.bytes and end_span.parent_span_id == root.span_id

    _, chat = by_name["chat scripted-7"]
    assert chat.trace_id == run.id.bytes and chat.parent_span_id == step_span.span_id
    assert chat.kind == chat.SPAN_KIND_CLIENT
    gen_ai = _attributes(chat)
    assert gen_ai["gen_ai.operation.name"] == "chat"
    assert gen_ai["gen_ai.provider.name"] == "scripted" == gen_ai["gen_ai.system"]
    assert gen_ai["gen_ai.request.model"] == "scripted-7"
    assert draft.tokens_in > 0
    assert gen_ai["gen_ai.usage.input_tokens"] == draft.tokens_in
    assert gen_ai["gen_ai.usage.output_tokens"] == draft.tokens_out
    assert (
        len(
            {
                span.trace_id
                for _, span in spans
                if span.name.endswith(("traced", "draft", "done", "scripted-7"))
            }
        )
        == 1
    )


def test_tracing_is_off_without_an_endpoint() -> None:
    assert not tracing.enabled()
    with tracing.model_span(provider="scripted", model="m") as call:
        call.usage(model="m", input_tokens=1, output_tokens=1)
    assert call.span is None
    assert tracing._STATE.provider is None
