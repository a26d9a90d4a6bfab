"""Outcomes: business results reported later about a run's subject (the Feedback in
Trigger -> Action -> Feedback -> ROI)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from controlroom.moments import MomentError, utc_moment
from flows.engine import transitions
from flows.models import Flow, Outcome, Run
from flows.roi import facts as roi_facts

MAX_ABS_VALUE = Decimal("1e14")


class OutcomeError(Exception):
    """An outcome cannot be recorded as given (a 4xx for the caller)."""

    def __init__(
        self, message: str, *, pointer: str = "", status: int = 400, code: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or ("not_found" if status == 404 else "invalid")
        self.details = [{"pointer": pointer, "message": message}] if pointer else []


@dataclass(frozen=True)
class Recorded:
    outcome: Outcome
    created: bool


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise OutcomeError("value must be a number", pointer="/value")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise OutcomeError("value must be a number", pointer="/value") from None
    if not number.is_finite() or abs(number) >= MAX_ABS_VALUE:
        raise OutcomeError("value must be a finite number below 1e14", pointer="/value")
    return number.quantize(Decimal("0.000001"))


def _run_for(*, subject: str, run_id: Any, flow: Flow | None) -> Run:
    if run_id is not None:
        try:
            run_uuid = uuid.UUID(str(run_id))
        except ValueError:
            raise OutcomeError("run_id is not a run id", pointer="/run_id") from None
        run = Run.objects.filter(id=run_uuid).first()
        if run is None:
            raise OutcomeError("no such run", pointer="/run_id", status=404)
        if flow is not None and run.flow_id != flow.id:
            raise OutcomeError("the run belongs to another flow", pointer="/run_id")
        return run
    # No run named: the latest run that worked on this subject (in the flow, if named).
    runs = Run.objects.filter(subject=subject)
    if flow is not None:
        runs = runs.filter(flow=flow)
    run = runs.order_by("-created_at").first()
    if run is None:
        within = f" of flow {flow.slug!r}" if flow is not None else ""
        raise OutcomeError(
            f"no run{within} worked on subject {subject!r}: an outcome must attach to a run "
            "(give run_id, or set the flow's subject template so its runs carry the subject)",
            pointer="/subject",
            status=422,
            code="no_matching_run",
        )
    return run


def outcome_record(
    *,
    subject: str,
    metric: str,
    value: Any = 1,
    run_id: Any = None,
    flow_slug: str | None = None,
    occurred_at: datetime | None = None,
    source: str = Outcome.Source.API,
    event_key: str | None = None,
) -> Recorded:
    """Record an outcome for ``subject`` and attach it to the run it belongs to (``run_id``,
    else the subject's latest run, within ``flow_slug`` when given); the run's history notes
    it. Idempotent by ``event_key``: a repeat returns the first outcome and records nothing.
    Raises ``OutcomeError`` for invalid input (with a JSON pointer) or an unknown run/flow.

    Every outcome attaches to a run: when no run is named and no run (of the flow, if named)
    carries ``subject``, nothing is recorded and ``OutcomeError`` says so with status 422 and
    code ``no_matching_run`` (an outcome that counted nowhere must not look accepted)."""
    if event_key:
        existing = Outcome.objects.filter(event_key=event_key).first()
        if existing is not None:
            return Recorded(existing, False)
    subject = _stripped(subject, name="subject", most=300)
    metric = _stripped(metric, name="metric", most=100)
    number = _decimal(value)
    try:
        when = utc_moment(occurred_at or timezone.now())
    except MomentError as exc:
        raise OutcomeError(f"occurred_at {exc}", pointer="/occurred_at") from None
    flow = _flow_named(flow_slug)
    run = _run_for(subject=subject, run_id=run_id, flow=flow)
    if run.subject and run.subject != subject:
        raise OutcomeError("the run worked on another subject", pointer="/run_id")
    try:
        with transaction.atomic():
            outcome = Outcome.objects.create(
                subject=subject,
                metric=metric,
                value=number,
                run=run,
                flow=flow or run.flow,
                occurred_at=when,
                source=source,
                event_key=event_key or None,
            )
            transitions.run_note(
                run,
                "outcome.recorded",
                {"outcome_id": outcome.id, "metric": metric, "value": str(number)},
            )
            roi_facts.fact_outcome_recorded(outcome)
            # Event triggers watching this metric start after commit (flows.triggers.events).
            transaction.on_commit(functools.partial(_recorded, outcome.id))
    except IntegrityError:
        existing = Outcome.objects.filter(event_key=event_key).first() if event_key else None
        if existing is None:
            raise
        return Recorded(existing, False)
    return Recorded(outcome, True)


def _stripped(text: str | None, *, name: str, most: int) -> str:
    """``text`` without surrounding blanks; ``OutcomeError`` (at ``/name``) unless 1 to
    ``most`` characters remain."""
    text = (text or "").strip()
    if not text or len(text) > most:
        raise OutcomeError(f"{name} must be 1 to {most} characters", pointer=f"/{name}")
    return text


def _flow_named(flow_slug: str | None) -> Flow | None:
    """The flow ``flow_slug`` names, None when none is named; ``OutcomeError`` (404) when it
    names no flow."""
    if not flow_slug:
        return None
    flow = Flow.objects.filter(slug=flow_slug).first()
    if flow is None:
        raise OutcomeError(f"no flow {flow_slug!r}", pointer="/flow", status=404)
    return flow


def _recorded(outcome_id: int) -> None:
    from flows.triggers import events

    events.outcome_recorded_after_commit(outcome_id)


def outcome_list(
    *,
    subject: str | None = None,
    metric: str | None = None,
    flow: Flow | None = None,
    run_id: Any = None,
) -> QuerySet[Outcome]:
    found = Outcome.objects.select_related("flow").all()
    if subject:
        found = found.filter(subject=subject)
    if metric:
        found = found.filter(metric=metric)
    if flow is not None:
        found = found.filter(flow=flow)
    if run_id is not None:
        found = found.filter(run_id=run_id)
    return found


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "id": outcome.id,
        "subject": outcome.subject,
        "metric": outcome.metric,
        "value": format(outcome.value.normalize(), "f"),
        "run_id": str(outcome.run_id) if outcome.run_id else None,
        "flow": outcome.flow.slug if outcome.flow else None,
        "occurred_at": outcome.occurred_at.isoformat(),
        "source": outcome.source,
        "created_at": outcome.created_at.isoformat(),
    }
