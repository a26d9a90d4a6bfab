"""A flow graph's regions: loops and send-back rounds (``flows.graph`` says what they are).

Pure functions over a ``flows.graph.Graph`` being built: they find each loop's back edge, head
and body, and each send-back round's head and body, and check that regions are entered and
left only where they may be and nest. Problems come back as ``(JSON pointer, message)`` pairs
for ``flows.graph.build`` to report. Which nodes close a loop or own a round is asked of their
node types (``NodeType.closes_loop``, ``NodeType.send_back_target``).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.graph import Edge, Graph

Found = list[tuple[str, str]]


def reach(start: str, adjacency: dict[str, list[str]]) -> set[str]:
    """Every node reachable from ``start`` along ``adjacency``, ``start`` included."""
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in adjacency.get(queue.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def forward_adjacency(graph: Graph) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Successors and predecessors along forward edges (back edges left out)."""
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for edge in graph.edges:
        if not edge.back:
            forward.setdefault(edge.src, []).append(edge.dst)
            backward.setdefault(edge.dst, []).append(edge.src)
    return forward, backward


def _dominators(nodes: Iterable[str], reverse: dict[str, list[str]]) -> dict[str, set[str]]:
    """For each node, the nodes every path to it from a node without inputs passes through."""
    order = list(nodes)
    roots = {node_id for node_id in order if not reverse.get(node_id)}
    dominators = {n: ({n} if n in roots else set(order)) for n in order}
    changed = True
    while changed:
        changed = False
        for node_id in order:
            if node_id in roots:
                continue
            found = set.intersection(*(dominators[p] for p in reverse[node_id])) | {node_id}
            if found != dominators[node_id]:
                dominators[node_id] = found
                changed = True
    return dominators


def _back_edges(graph: Graph, candidates: dict[str, list[Edge]]) -> dict[str, Edge]:
    """Each loop's back edge among its candidates: the only one, or, with several (an inner
    loop whose exit leads back into its outer loop's body), the one to a node that dominates
    the loop node, computed without the back edges already known — so outer loops are
    resolved first and a loop head may be the flow's first node."""
    backs: dict[str, Edge] = {}
    unresolved = list(candidates)
    while unresolved:
        known = {edge.index for edge in backs.values()}
        forward_reverse: dict[str, list[str]] = {}
        for edge in graph.edges:
            if edge.index not in known:
                forward_reverse.setdefault(edge.dst, []).append(edge.src)
        dominators = _dominators(graph.nodes, forward_reverse)
        for loop_id in list(unresolved):
            found = candidates[loop_id]
            if len(found) > 1:
                found = [edge for edge in found if edge.dst in dominators[loop_id]]
            if len(found) == 1:
                backs[loop_id] = found[0]
                unresolved.remove(loop_id)
        if len(known) == len(backs):
            break
    return backs


def find_loops(graph: Graph, reverse: dict[str, list[str]]) -> Found:
    """Mark each loop node's back edge (among its edges to nodes that can reach it again) and
    record its head and body; a loop without exactly one is a problem."""
    loops = [node_id for node_id in graph.nodes if graph.kind(node_id).closes_loop]
    candidates = {
        loop_id: [
            edge
            for edge in graph.edges
            if edge.src == loop_id and edge.dst in reach(loop_id, reverse) and not edge.on_error
        ]
        for loop_id in loops
    }
    backs = _back_edges(graph, candidates)
    pointer = {node_id: i for i, node_id in enumerate(graph.nodes)}
    problems: Found = []
    rewritten = list(graph.edges)
    for loop_id in loops:
        back = backs.get(loop_id)
        if back is None:
            problems.append(
                (
                    f"/nodes/{pointer[loop_id]}",
                    f"loop {loop_id!r} needs exactly one edge back to the start of its body "
                    f"(found {len(candidates[loop_id])})",
                )
            )
        elif back.dst in graph.head_loop:
            problems.append(
                (f"/edges/{back.index}", f"node {back.dst!r} already starts another loop")
            )
        else:
            graph.loop_head[loop_id] = back.dst
            graph.head_loop[back.dst] = loop_id
            rewritten[back.index] = dataclasses.replace(back, back=True)
    graph.edges = rewritten
    # Bodies follow forward edges only, so an outer loop's back edge does not pull the rest
    # of the outer body into an inner loop.
    forward, backward = forward_adjacency(graph)
    for loop_id, head in graph.loop_head.items():
        body = (reach(head, forward) & reach(loop_id, backward)) - {loop_id}
        graph.loop_body[loop_id] = frozenset(body)
    return problems


def _crossing_edges(graph: Graph, closer: str, head: str, body: frozenset[str]) -> list[Edge]:
    """The forward edges that leave the region from inside its body (not into ``closer``) or
    enter it past its head: ``closer`` is a loop node or an approval closing a round."""
    found = []
    for edge in graph.edges:
        if edge.back:
            continue
        leaving = edge.src in body and edge.dst not in body and edge.dst != closer
        entering = edge.dst == closer or (edge.dst in body and edge.dst != head)
        if leaving or (entering and edge.src not in body):
            found.append(edge)
    return found


def check_loop_boundaries(graph: Graph) -> Found:
    """A loop is entered only at its head and left only through its loop node."""
    problems: Found = []
    for loop_id, body in graph.loop_body.items():
        head = graph.loop_head[loop_id]
        for edge in _crossing_edges(graph, loop_id, head, body):
            if edge.src in body:
                message = (
                    f"edge leaves loop {loop_id!r} from inside its body; "
                    "leave through the loop node"
                )
            else:
                # The loop node itself runs inside its loop's scope; reached from outside, it
                # would have no iteration to count or go back to.
                message = f"edge enters loop {loop_id!r} at {edge.dst!r}; enter at {head!r}"
            problems.append((f"/edges/{edge.index}", message))
    return problems


def find_rounds(graph: Graph, document: dict[str, Any]) -> Found:
    """Resolve each ``send_back_target`` into a round, or report why it cannot be one."""
    forward, backward = forward_adjacency(graph)
    problems: Found = []
    for index, node in enumerate(document.get("nodes", [])):
        approval = node["id"]
        target = graph.kind(approval).send_back_target(graph.config(approval))
        if target is None:
            continue
        where = f"/nodes/{index}/config/send_back_to"
        found = _round_problems(graph, approval, target, forward)
        body = frozenset((reach(target, forward) & reach(approval, backward)) - {approval})
        found = found or _round_boundary_problems(graph, approval, target, body)
        if found:
            problems += [(where, message) for message in found]
            continue
        graph.round_head[approval] = target
        graph.head_rounds.setdefault(target, []).append(approval)
        graph.round_body[approval] = body
    return problems + _check_round_nesting(graph, document)


def _round_problems(
    graph: Graph, approval: str, target: str, forward: dict[str, list[str]]
) -> list[str]:
    """Why ``target`` cannot head a round closed by ``approval``, at most one reason."""
    if target not in graph.nodes or target == approval:
        return [f"send_back_to {target!r} is not another node here"]
    if approval not in reach(target, forward):
        return [f"no path leads from {target!r} to this approval: send back to a node before it"]
    if target in graph.map_body or approval in graph.map_body:
        return ["a map body cannot take part in a send-back round"]
    return []


def _round_boundary_problems(
    graph: Graph, approval: str, head: str, body: frozenset[str]
) -> list[str]:
    problems = []
    for edge in _crossing_edges(graph, approval, head, body):
        if edge.src in body:
            problems.append(
                f"{edge.src!r} → {edge.dst!r} leaves the send-back round of {approval!r} from "
                f"inside it; the round (from {head!r} to here) must be left through the approval"
            )
        else:
            problems.append(
                f"{edge.src!r} → {edge.dst!r} enters the send-back round of {approval!r} "
                f"past its start; enter at {head!r}"
            )
    region = body | {approval}
    for loop, loop_body in graph.loop_body.items():
        extent = loop_body | {loop}
        if extent & region and not (extent <= body or region <= loop_body):
            problems.append(
                f"the send-back round from {head!r} to {approval!r} crosses loop {loop!r}: "
                "it must hold the whole loop or lie inside its body"
            )
    return problems


def _check_round_nesting(graph: Graph, document: dict[str, Any]) -> Found:
    pointer = {node["id"]: i for i, node in enumerate(document.get("nodes", []))}
    rounds = sorted(graph.round_body)
    problems: Found = []
    for first_index, first in enumerate(rounds):
        for second in rounds[first_index + 1 :]:
            a, b = graph.region_extent(first), graph.region_extent(second)
            if a & b and not (a <= graph.round_body[second] or b <= graph.round_body[first]):
                problems.append(
                    (
                        f"/nodes/{pointer[second]}/config/send_back_to",
                        f"the send-back rounds of {first!r} and {second!r} overlap: one must lie "
                        "inside the other or apart from it",
                    )
                )
    return problems
