"""Following a finished step's edges: signals, fan-in and dead paths.

Every function runs inside the transaction of an ``Advance`` (the run row is locked), which
the caller passes in; like ``flows.engine.waits`` this module sits below
``flows.engine.scheduler`` and does not import it. The run lock is what makes fan-in safe: two
branches finishing at once would otherwise both see "the other branch is not done" (or both
see "all done") and start a join twice or never.

A taken edge activates its target (through ``Advance.activate_later``), one not taken signals
a dead path. A node with one input decides on its single signal; one with several records each
signal as an ``EdgeSignal`` row and starts once enough have arrived — as many as its node type
needs (``NodeType.arrivals_needed``: all of them, or what a join's mode requires) — or is
skipped when every input is dead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flows import graph as graphs
from flows.engine import transitions, waits
from flows.models import EdgeSignal, Step
from flows.states import StepStatus

if TYPE_CHECKING:
    from flows.engine.scheduler import Advance


def propagate(advance: Advance, step: Step, taken: list[int], *, silent: list[int]) -> None:
    """Signal each of ``step``'s out edges, taken or not, except the ``silent`` ones; a map
    item's step reports to its map instead."""
    map_node = advance.graph.map_body.get(step.node_id)
    if map_node is not None:
        waits.map_item_done(advance, step, map_node)
        return
    # Normal and error edges alike: the ones not taken signal a dead path downstream.
    for edge in advance.graph.all_out_edges(step.node_id):
        if edge.index in silent:
            continue
        _signal(advance, edge, step.scope, taken=edge.index in taken, source=step.node_id)


def _signal(advance: Advance, edge: graphs.Edge, scope: str, *, taken: bool, source: str) -> None:
    target_scope = advance.graph.target_scope(edge, scope)
    if edge.back:
        if taken:
            advance.activate_later(edge.dst, target_scope, previous_node=source)
        return
    if len(advance.graph.in_forward.get(edge.dst, [])) == 1:
        # One input: this signal decides alone, so no bookkeeping row is needed (fan-in
        # rows exist only for nodes with several inputs).
        if taken:
            advance.activate_later(
                edge.dst,
                target_scope,
                previous_node=source,
                extra_input={"arrived": [source]},
            )
        else:
            _skip(advance, edge.dst, target_scope)
        return
    EdgeSignal.objects.bulk_create(
        [
            EdgeSignal(
                run=advance.run,
                edge_index=edge.index,
                to_node=edge.dst,
                scope=target_scope,
                taken=taken,
            )
        ],
        ignore_conflicts=True,
    )
    _fan_in(advance, edge.dst, target_scope, source)


def _fan_in(advance: Advance, node_id: str, scope: str, source: str) -> None:
    """Decide whether ``node_id`` can start in ``scope`` now that one more input arrived."""
    if Step.objects.filter(run=advance.run, node_id=node_id, scope=scope).exists():
        return
    incoming = advance.graph.in_forward.get(node_id, [])
    # In arrival order: signals are inserted under the run lock, so their ids are the
    # order the branches completed in (a join ``vote`` breaks ties by it).
    signals = list(
        EdgeSignal.objects.filter(run=advance.run, to_node=node_id, scope=scope)
        .order_by("id")
        .values_list("edge_index", "taken")
    )
    source_of = {edge.index: edge.src for edge in incoming}
    arrived = [source_of[index] for index, taken in signals if taken and index in source_of]
    pending = len(incoming) - len(signals)
    need = advance.graph.kind(node_id).arrivals_needed(advance.graph.config(node_id), len(incoming))
    if len(arrived) < need and pending > 0:
        return
    if arrived:
        advance.activate_later(
            node_id, scope, previous_node=source, extra_input={"arrived": arrived}
        )
    else:
        _skip(advance, node_id, scope)


def _skip(advance: Advance, node_id: str, scope: str) -> None:
    """Dead path: nothing reaches ``node_id``; mark it skipped and tell its successors."""
    step = transitions.step_create(
        run=advance.run,
        status=StepStatus.SKIPPED,
        node_id=node_id,
        node_type=advance.graph.node_type(node_id),
        scope=scope,
        idempotency_key=advance._idempotency_key(node_id, scope),
        max_attempts=advance.graph.kind(node_id).default_max_attempts,
        if_absent=True,
    )
    if step is None:
        return
    silent = [edge.index for edge in advance.graph.out_edges.get(node_id, []) if edge.back]
    propagate(advance, step, taken=[], silent=silent)
