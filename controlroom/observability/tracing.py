"""OpenTelemetry traces: a run is a trace, a step a span, a model call a child span.

Off by default: without ``CONTROLROOM_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) no
tracer exists and every function here returns after one settings lookup. When set, spans are
batched (``BatchSpanProcessor``; ``OTEL_BSP_*`` tune it) and exported over OTLP/HTTP protobuf to
``<endpoint>/v1/traces``. The SDK's own tracer provider is per process and created lazily —
again after a fork, since Celery's prefork children cannot share the parent's export thread.

A run's steps execute in many worker processes, so the run's span context is not passed
around: it is *derived* from the run's uuid. The trace id is the uuid's 128 bits and the run
span's id the first 64 bits of ``sha256("run:" + uuid)``; every process computes the same
parent for a step's span. The run span itself is emitted once, when the run ends, with the
run's real start and end times (``run_span``).

A subflow's child run belongs to its parent's trace: the trace id of every run in a family is
the top-level run's, and a child run's span is a child of its parent run's span. The family is
learnt through a hook the app registers (``lineage_register``; this package imports no app),
asked only while tracing is on and cached per process (a run's lineage never changes).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from controlroom.observability import context as ids

SCOPE = "controlroom"
Attributes = Mapping[str, str | int | float | bool]

# The ids the next span created in this context must take (the run span's derived ids).
_forced_trace: contextvars.ContextVar[int | None] = contextvars.ContextVar("trace", default=None)
_forced_span: contextvars.ContextVar[int | None] = contextvars.ContextVar("span", default=None)


class _IdGenerator(RandomIdGenerator):
    def generate_trace_id(self) -> int:
        return _forced_trace.get() or super().generate_trace_id()

    def generate_span_id(self) -> int:
        return _forced_span.get() or super().generate_span_id()


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.provider: TracerProvider | None = None


_STATE = _State()


def endpoint() -> str:
    return str(settings.CONTROLROOM["OBSERVABILITY"].otlp_endpoint or "")


def enabled() -> bool:
    return bool(endpoint())


def _tracer() -> trace.Tracer | None:
    base = endpoint()
    if not base:
        return None
    with _STATE.lock:
        if _STATE.provider is None or _STATE.pid != os.getpid():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            name = settings.CONTROLROOM["OBSERVABILITY"].service_name
            provider = TracerProvider(
                resource=Resource.create({"service.name": name}),
                id_generator=_IdGenerator(),
            )
            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
            )
            _STATE.provider, _STATE.pid = provider, os.getpid()
        return _STATE.provider.get_tracer(SCOPE)


def flush(timeout_millis: int = 5000) -> bool:
    """Export what is batched now (tests; a worker shutting down)."""
    provider = _STATE.provider
    if provider is None or _STATE.pid != os.getpid():
        return True
    return provider.force_flush(timeout_millis)


# --- ids derived from the run ----------------------------------------------------------------


def trace_id_of(run_id: Any) -> int:
    return uuid.UUID(str(run_id)).int or 1


def run_span_id_of(run_id: Any) -> int:
    digest = hashlib.sha256(b"run:" + uuid.UUID(str(run_id)).bytes).digest()
    return int.from_bytes(digest[:8], "big") or 1


#: ``run id -> (top-level run id, parent run id or None)``; a run is its own root without it.
_lineage: list[Callable[[Any], tuple[Any, Any | None]]] = []


def lineage_register(resolve: Callable[[Any], tuple[Any, Any | None]]) -> None:
    """Install the function that tells a run's top-level ancestor and parent run (once)."""
    _lineage[:] = [resolve]
    _lineage_of.cache_clear()


@functools.lru_cache(maxsize=4096)
def _lineage_of(run_id: str) -> tuple[str, str | None]:
    if not _lineage:
        return run_id, None
    root, parent = _lineage[0](run_id)
    return str(root), (str(parent) if parent is not None else None)


def run_trace_id(run_id: Any) -> int:
    """The trace id of ``run_id``'s family: its top-level ancestor's uuid."""
    return trace_id_of(_lineage_of(str(run_id))[0])


def _run_parent(run_id: Any) -> Any:
    parent = SpanContext(
        trace_id=run_trace_id(run_id),
        span_id=run_span_id_of(run_id),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


# --- the hooks -------------------------------------------------------------------------------


@contextlib.contextmanager
def step_scope(
    *, run_id: Any, step_id: int, node_id: str, node_type: str, attempt: int
) -> Iterator[None]:
    """Around one execution of a step on a worker: binds the run and step ids for log lines
    and, when tracing is on, records the step as a span, child of the run's span. An exception
    escaping the block marks the span as an error and propagates unchanged."""
    with ids.bound(run=run_id, step=step_id, node=node_id):
        tracer = _tracer()
        if tracer is None:
            yield
            return
        attributes: Attributes = {
            "controlroom.run_id": str(run_id),
            "controlroom.step_id": step_id,
            "controlroom.node_id": node_id,
            "controlroom.node_type": node_type,
            "controlroom.attempt": attempt,
        }
        with tracer.start_as_current_span(
            f"step {node_id}", context=_run_parent(run_id), attributes=attributes
        ):
            yield


@dataclass
class ModelCall:
    """What ``model_span`` learns about a call; the caller fills in the response's usage."""

    span: Any = None

    def usage(self, *, model: str, input_tokens: int, output_tokens: int) -> None:
        if self.span is None:
            return
        if model:
            self.span.set_attribute("gen_ai.response.model", model)
        self.span.set_attribute("gen_ai.usage.input_tokens", int(input_tokens))
        self.span.set_attribute("gen_ai.usage.output_tokens", int(output_tokens))


@contextlib.contextmanager
def model_span(*, provider: str, model: str, agent: str = "") -> Iterator[ModelCall]:
    """Around one model call: a client span (child of the current step span) carrying the
    OpenTelemetry GenAI semantic-convention attributes. A no-op when tracing is off."""
    tracer = _tracer()
    if tracer is None:
        yield ModelCall()
        return
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # the attribute's name before semantic conventions 1.37
        "gen_ai.request.model": model,
    }
    if agent:
        attributes["gen_ai.agent.name"] = agent
    with tracer.start_as_current_span(
        f"chat {model}".strip(), kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield ModelCall(span=span)


@dataclass(frozen=True)
class PastSpan:
    """A step that ran inline (no worker execution of its own), recorded from its row."""

    name: str
    start: datetime
    end: datetime
    attributes: Attributes
    failed: bool = False


def run_span(
    *,
    run_id: Any,
    name: str,
    start: datetime,
    end: datetime,
    attributes: Attributes,
    failed: bool,
    children: Sequence[PastSpan] = (),
) -> None:
    """Emit the run's span (with its derived trace and span ids) once the run ended, and the
    spans of its inline steps as its children. A top-level run's span is the trace's root; a
    child run's span is a child of its parent run's span, in the parent's trace."""
    tracer = _tracer()
    if tracer is None:
        return
    _, parent_run = _lineage_of(str(run_id))
    # Not the caller's current span: the run's place in its family decides its parent.
    context = (
        _run_parent(parent_run)
        if parent_run is not None
        else trace.set_span_in_context(trace.INVALID_SPAN)
    )
    trace_token = _forced_trace.set(run_trace_id(run_id))
    span_token = _forced_span.set(run_span_id_of(run_id))
    try:
        root = tracer.start_span(name, context=context, start_time=_ns(start))
    finally:
        _forced_span.reset(span_token)
        _forced_trace.reset(trace_token)
    for key, value in attributes.items():
        root.set_attribute(key, value)
    if failed:
        root.set_status(Status(StatusCode.ERROR))
    parent = _run_parent(run_id)
    for child in children:
        span = tracer.start_span(
            child.name, context=parent, start_time=_ns(child.start), attributes=child.attributes
        )
        if child.failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=_ns(child.end))
    root.end(end_time=_ns(end))
