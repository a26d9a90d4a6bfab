"""The claim: one statement that takes a queued step and returns what executing it needs.

A worker's claim is a compare-and-set queued → running that bumps ``attempt`` (the fence every
later write of this attempt checks). It is one ``UPDATE … RETURNING`` in its own, durable,
transaction: the claim is what licenses executing the step's effects. The same statement
appends the move to the run's history and reads, in the same snapshot, the run, the outputs of
the run's succeeded steps and the errors of its failed ones (what templates see) and the
enabled policy rows (what the guard enforces) — one round trip where there were eight.

The claim's history is the ``RunEvent`` row only: picking a step up is a worker's bookkeeping,
not a decision, so it writes no audit row (every move after it does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from agents.models import Policy
from agents.policies import PolicySpec
from flows.engine import context
from flows.graph import row_key
from flows.models import FlowVersion, KillSwitch, Run, Step
from flows.states import RunStatus, StepStatus

CLAIMABLE_RUN_STATES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)


@dataclass
class Claim:
    """A step this worker now owns at ``attempt``, and what the claim read beside it."""

    step: Step
    attempt: int
    run: Run | None = None
    outputs: context.Outputs | None = None
    policies: list[PolicySpec] | None = None
    #: Earlier successful calls of each agent in the run (the scripted provider's turn).
    agent_calls: dict[str, int] = field(default_factory=dict)


def _columns(model: type[Model], alias: str, prefix: str) -> str:
    return ", ".join(
        f'{alias}."{f.column}" AS "{prefix}{f.column}"' for f in model._meta.concrete_fields
    )


_SQL = f"""
WITH claimed AS (
    UPDATE {Step._meta.db_table} AS s
    SET status = %(running)s, attempt = s.attempt + 1, started_at = %(now)s,
        heartbeat_at = %(now)s, finished_at = NULL
    WHERE s.id = %(step_id)s AND s.status = %(queued)s AND s.attempt < s.max_attempts
      AND (s.due_at IS NULL OR s.due_at <= %(now)s)
      -- A condition on the run, not a join: PostgreSQL re-checks the step's own columns
      -- against a concurrent claim, so two claims cannot both win.
      AND s.run_id IN (
          SELECT r.id FROM {Run._meta.db_table} AS r
          WHERE r.id = s.run_id AND r.status = ANY(%(claimable)s)
            -- The kill switch: nothing is claimed once the run's flow (or everything) is
            -- switched off (``flows.killswitch.selectors.engaged_q`` says the same for querysets).
            AND NOT EXISTS (
                SELECT 1 FROM {KillSwitch._meta.db_table} AS k
                WHERE k.active AND (k.flow_id IS NULL OR k.flow_id = r.flow_id)
            )
      )
    RETURNING s.*
), noted AS (
    INSERT INTO flows_runevent (run_id, step_id, kind, from_status, to_status, data, at)
    SELECT run_id, id, 'step.moved', %(queued)s, %(running)s,
           jsonb_build_object('attempt', attempt, 'continued', %(continued)s), %(now)s
    FROM claimed
)
SELECT {_columns(Step, "c", "")}, {_columns(Run, "r", "run__")},
    (SELECT coalesce(jsonb_agg(jsonb_build_array(
                o.node_id, o.scope, o.id, o.output,
                CASE WHEN o.node_type = 'agent' AND o.status = %(succeeded)s
                     THEN o.input->>'agent' END,
                CASE WHEN o.status = %(failed)s
                     THEN jsonb_build_object('class', o.error_class, 'message', o.error) END
            ) ORDER BY o.id),
            '[]'::jsonb)
     FROM {Step._meta.db_table} AS o
     -- A failed step is here only in a run that went on past it (an error edge).
     WHERE o.run_id = c.run_id AND o.status IN (%(succeeded)s, %(failed)s)) AS claim__outputs,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'slug', p.slug, 'kind', p.kind, 'verdict', p.verdict, 'reason', p.reason,
                'config', p.config, 'scope', p.scope, 'target', p.target) ORDER BY p.slug),
            '[]'::jsonb)
     FROM {Policy._meta.db_table} AS p WHERE p.enabled) AS claim__policies
FROM claimed AS c JOIN {Run._meta.db_table} AS r ON r.id = c.run_id
"""


def claim(step_id: int, *, now: datetime, continued: bool = False) -> Claim | None:
    """Claim step ``step_id`` for one attempt; None when there is nothing to claim (not
    queued, not due, attempts used up, its run ended or paused, or the kill switch is on).
    ``continued``: claimed by the worker that completed its predecessor, without crossing
    the queue (eager continuation); the history says so."""
    with connection.cursor() as cursor:
        cursor.execute(
            _SQL,
            {
                "step_id": step_id,
                "now": now,
                "continued": continued,
                "queued": StepStatus.QUEUED.value,
                "running": StepStatus.RUNNING.value,
                "succeeded": StepStatus.SUCCEEDED.value,
                "failed": StepStatus.FAILED.value,
                "claimable": [state.value for state in CLAIMABLE_RUN_STATES],
            },
        )
        row = cursor.fetchone()
        if row is None:
            return None
        names = [column.name for column in cursor.description]
    values = dict(zip(names, row, strict=True))
    step = model_from_row(Step, values, "")
    run = model_from_row(Run, values, "run__")
    step.run = run  # the step's run is the one read in the same statement
    outputs = context.Outputs()
    calls: dict[str, int] = {}
    for node_id, scope, output_step_id, output, agent, error in _json(values["claim__outputs"]):
        if error is not None:
            outputs.add_error(node_id, scope, output_step_id, error)
            continue
        outputs.add(node_id, scope, output_step_id, output)
        if agent:
            calls[agent] = calls.get(agent, 0) + 1
    policies = [PolicySpec(**entry) for entry in _json(values["claim__policies"])]
    return Claim(
        step=step,
        attempt=step.attempt,
        run=run,
        outputs=outputs,
        policies=policies,
        agent_calls=calls,
    )


def model_from_row[M: Model](model: type[M], values: dict[str, Any], prefix: str = "") -> M:
    """A model instance from raw columns, converted as Django converts a query's rows."""
    fields = model._meta.concrete_fields
    converted = []
    for f in fields:
        value = values[prefix + str(f.column)]
        for converter in f.get_db_converters(connection):
            value = converter(value, f, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


_VERSIONS: dict[tuple[str, ...], FlowVersion] = {}


def version_get(version_id: int) -> FlowVersion:
    """A flow version, read once per process: versions are immutable once saved (the engine
    reads only their document and frozen agents)."""
    key = row_key(version_id)
    version = _VERSIONS.get(key)
    if version is None:
        version = FlowVersion.objects.get(id=version_id)
        if len(_VERSIONS) > 512:
            _VERSIONS.clear()
        _VERSIONS[key] = version
    return version


def attach_version(run: Run) -> Run:
    """Give ``run`` its ``version`` without a query after the first time in this process."""
    if "version" not in run._state.fields_cache:
        run.version = version_get(run.version_id)
    return run
