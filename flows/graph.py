"""The shape of a flow document's graph, computed once per version.

Pure: takes a document dict, returns a ``Graph`` (or structural problems). The engine walks
edges with it; the validator reports its problems with JSON pointers.

Loops: a cycle is legal only through a ``loop`` node. The loop's *back edge* is its one outgoing
edge whose target dominates the loop node (every path from the start to the loop passes through
it); that target is the loop's *head*; the *body* is every node on a path from the head to the
loop node that uses no back edge. Other outgoing edges of a loop node are its exits — including
an inner loop's exit into its outer loop's body, which can reach the inner loop again only
through the outer loop's back edge.

Map bodies: a ``map`` node names one body node in its config; that node has no edges and runs
once per item.

Failure paths: an edge with ``"on": "error"`` is an *error edge*, followed only when its source
fails for good (``Graph.error_edges``); the others are its *normal* edges (``out_edges``), the
only ones node types choose among. Structurally an error edge is a forward edge like any other:
it counts for loops' and rounds' boundaries, cycles, reachability, and as an input of its
target (an arrival at a join). It carries no condition and is never a loop's back edge.

Send-back rounds: an ``approval`` node whose config names ``send_back_to: <node>`` owns a
*round*: the nodes on forward paths from that node (the round's *head*) to the approval. Like a
loop body, a round runs in a scope of its own, ``~<approval>#<n>``, pushed when the head is
entered from outside and popped when the approval's edges are followed. A person sending the
draft back starts round n+1 at the head (``send_back_scope``), so the drafting steps run again
as new steps, and everything after the approval reads the latest round. A round must be
entered only at its head and left only through its approval, and nest with loops and other
rounds (inside or around them, never across).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Edge:
    index: int
    src: str
    dst: str
    when: str | None
    back: bool = False
    #: ``"on": "error"``: taken only when ``src`` fails for good (``Graph.error_edges``).
    on_error: bool = False


@dataclass(frozen=True)
class Problem:
    pointer: str
    message: str


@dataclass
class Graph:
    nodes: dict[str, dict[str, Any]]
    edges: list[Edge]
    #: A node's normal outgoing edges (what node types decide among).
    out_edges: dict[str, list[Edge]] = field(default_factory=dict)
    #: A node's error edges: followed, instead of the normal ones, when it fails for good.
    error_edges: dict[str, list[Edge]] = field(default_factory=dict)
    #: Forward edges into a node, error edges included (each is an arrival like any other).
    in_forward: dict[str, list[Edge]] = field(default_factory=dict)
    loop_head: dict[str, str] = field(default_factory=dict)
    head_loop: dict[str, str] = field(default_factory=dict)
    loop_body: dict[str, frozenset[str]] = field(default_factory=dict)
    map_body: dict[str, str] = field(default_factory=dict)
    #: Send-back rounds: approval node → head, head → approvals, approval → body.
    round_head: dict[str, str] = field(default_factory=dict)
    head_rounds: dict[str, list[str]] = field(default_factory=dict)
    round_body: dict[str, frozenset[str]] = field(default_factory=dict)
    entries: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def node_type(self, node_id: str) -> str:
        return str(self.nodes[node_id]["type"])

    def config(self, node_id: str) -> dict[str, Any]:
        return dict(self.nodes[node_id].get("config") or {})

    def is_leaf(self, node_id: str) -> bool:
        """No normal edge leaves the node: its success ends its path (an error edge only
        continues a failure)."""
        return not self.out_edges.get(node_id)

    def on_error(self, node_id: str) -> str:
        """The node's ``on_error``: ``fail`` (the default) or ``continue``."""
        return str(self.nodes[node_id].get("on_error") or "fail")

    def all_out_edges(self, node_id: str) -> list[Edge]:
        """Every edge leaving ``node_id``, normal and error edges, in document order."""
        found = self.out_edges.get(node_id, []) + self.error_edges.get(node_id, [])
        return sorted(found, key=lambda edge: edge.index)

    # --- scopes -----------------------------------------------------------------------------
    def entry_scope(self, node_id: str) -> str:
        """The scope an entry node starts in: iteration 0 of every loop and round it heads (a
        flow may begin with a loop's body or a send-back round)."""
        return self._enter("", None, node_id)

    def target_scope(self, edge: Edge, scope: str) -> str:
        """The scope in which ``edge.dst`` runs when ``edge`` fires from ``scope``."""
        if edge.back:
            scope = _bump(scope, edge.src)
        elif self.node_type(edge.src) == "loop":
            # An exit leaves the loop's scope, even when it leads straight into another loop.
            scope = _pop(scope, edge.src)
        elif edge.src in self.round_head:
            scope = _pop(scope, round_part(edge.src))
        return self._enter(scope, edge.src, edge.dst)

    def send_back_scope(self, scope: str, approval: str) -> str:
        """The scope the head of ``approval``'s round starts again in when a person sends the
        draft back from ``scope``: the round's next iteration, plus iteration 0 of any loop
        inside the round that the head starts."""
        scope = _bump(scope, round_part(approval))
        return self._enter(scope, approval, self.round_head[approval])

    def region_extent(self, closer: str) -> frozenset[str]:
        """The nodes of the loop or round that ``closer`` (a loop node or an approval with a
        round) closes, itself included."""
        body = self.loop_body.get(closer)
        if body is None:
            body = self.round_body[closer]
        return body | {closer}

    def _enter(self, scope: str, src: str | None, dst: str) -> str:
        """Push iteration 0 of every loop and round that ``dst`` heads and ``src`` is outside of,
        outermost first (a region containing another has the larger extent). From the approval
        itself (a send-back), its own round and the regions around it are not entered again."""
        regions: list[tuple[str, str]] = []
        loop = self.head_loop.get(dst)
        if loop is not None:
            regions.append((loop, loop))
        regions += [(approval, round_part(approval)) for approval in self.head_rounds.get(dst, [])]
        entered = [
            (closer, part)
            for closer, part in regions
            if src is None or src not in self.region_extent(closer)
        ]
        entered.sort(key=lambda region: -len(self.region_extent(region[0])))
        for _, part in entered:
            scope = _push(scope, f"{part}#0")
        return scope


ROUND_PREFIX = "~"


def round_part(approval: str) -> str:
    """The scope part name of an approval's send-back round (``~review``)."""
    return f"{ROUND_PREFIX}{approval}"


def round_of(scope: str) -> tuple[str, int, str] | None:
    """The innermost send-back round in ``scope``: ``(approval, iteration, scope of the round
    before it)``, or None outside any round."""
    parts = scope.split("/") if scope else []
    for index in range(len(parts) - 1, -1, -1):
        name, _, number = parts[index].partition("#")
        if name.startswith(ROUND_PREFIX):
            iteration = int(number)
            previous = "/".join([*parts[:index], f"{name}#{iteration - 1}"])
            return name[len(ROUND_PREFIX) :], iteration, previous
    return None


def _push(scope: str, part: str) -> str:
    return f"{scope}/{part}" if scope else part


def _pop(scope: str, loop: str) -> str:
    parts = scope.split("/") if scope else []
    if not parts or not parts[-1].startswith(f"{loop}#"):
        raise ValueError(f"scope {scope!r} is not inside loop {loop!r}")
    return "/".join(parts[:-1])


def _bump(scope: str, loop: str) -> str:
    parts = scope.split("/") if scope else []
    if not parts or not parts[-1].startswith(f"{loop}#"):
        raise ValueError(f"scope {scope!r} is not inside loop {loop!r}")
    iteration = int(parts[-1].split("#", 1)[1])
    parts[-1] = f"{loop}#{iteration + 1}"
    return "/".join(parts)


def iteration_of(scope: str, loop: str) -> int | None:
    """The iteration number of ``loop`` in ``scope``, if the scope is inside it."""
    for part in reversed(scope.split("/") if scope else []):
        name, _, number = part.partition("#")
        if name == loop:
            return int(number)
    return None


def item_index(scope: str) -> tuple[str, int] | None:
    """``(map node, index)`` when the scope's innermost part is a map item."""
    if not scope:
        return None
    name, _, number = scope.split("/")[-1].partition("#")
    if name.startswith("@"):
        return name[1:], int(number)
    return None


def map_item_scope(scope: str, map_node: str, index: int) -> str:
    return _push(scope, f"@{map_node}#{index}")


def map_parent_scope(scope: str) -> str:
    return "/".join(scope.split("/")[:-1])


def _reach(start: str, adjacency: dict[str, list[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in adjacency.get(queue.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def build(document: dict[str, Any]) -> tuple[Graph, list[Problem]]:
    """Compute the graph of a document whose nodes and edges are already well-formed lists.

    Returns the graph and the structural problems found (dangling edges, cycles outside loops,
    unreachable nodes, misplaced map bodies). The graph is only safe to run with no problems.
    """
    problems: list[Problem] = []
    nodes: dict[str, dict[str, Any]] = {}
    for index, node in enumerate(document.get("nodes", [])):
        if node["id"] in nodes:
            problems.append(Problem(f"/nodes/{index}/id", f"duplicate node id {node['id']!r}"))
            continue
        nodes[node["id"]] = node
    edges: list[Edge] = []
    seen_pairs: set[tuple[str, str]] = set()
    for index, raw in enumerate(document.get("edges", [])):
        for end in ("from", "to"):
            if raw[end] not in nodes:
                problems.append(
                    Problem(f"/edges/{index}/{end}", f"edge points to unknown node {raw[end]!r}")
                )
        if (raw["from"], raw["to"]) in seen_pairs:
            problems.append(Problem(f"/edges/{index}", "duplicate edge"))
        seen_pairs.add((raw["from"], raw["to"]))
        if raw["from"] == raw["to"]:
            problems.append(Problem(f"/edges/{index}", "an edge cannot connect a node to itself"))
        on_error = raw.get("on") == "error"
        if on_error and raw.get("when"):
            problems.append(
                Problem(
                    f"/edges/{index}/when",
                    "an error edge takes no condition: it is followed whenever its source fails",
                )
            )
        edges.append(Edge(index, raw["from"], raw["to"], raw.get("when") or None, False, on_error))
    graph = Graph(nodes=nodes, edges=edges)
    if problems:
        return graph, problems

    reverse: dict[str, list[str]] = {}
    for edge in edges:
        reverse.setdefault(edge.dst, []).append(edge.src)

    _find_loops(graph, reverse, problems)
    _find_map_bodies(graph, document, problems)
    edges = graph.edges
    for edge in edges:
        outgoing = graph.error_edges if edge.on_error else graph.out_edges
        outgoing.setdefault(edge.src, []).append(edge)
        if not edge.back:
            graph.in_forward.setdefault(edge.dst, []).append(edge)
    _check_acyclic(graph, problems)
    _check_loop_boundaries(graph, problems)
    _find_rounds(graph, document, problems)
    starts = [
        node_id
        for node_id in nodes
        if not graph.in_forward.get(node_id) and node_id not in graph.map_body
    ]
    # One start: the first node without inputs. Any other such node is disconnected.
    graph.entries = starts[:1]
    if nodes and not starts:
        problems.append(Problem("/nodes", "the flow has no start node (every node has an input)"))
    _check_reachable(graph, document, problems)
    return graph, problems


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


def _find_loops(graph: Graph, reverse: dict[str, list[str]], problems: list[Problem]) -> None:
    """Pick each loop node's back edge among its edges to nodes that can reach it again.

    One such edge is the back edge. With several (an inner loop whose exit leads back into
    its outer loop's body), the back edge is the one to a node that dominates the loop node,
    computed without the back edges already known — so outer loops are resolved first and a
    loop head may be the flow's first node.
    """
    loops = [node_id for node_id, node in graph.nodes.items() if node["type"] == "loop"]
    candidates = {
        loop_id: [
            edge
            for edge in graph.edges
            if edge.src == loop_id and edge.dst in _reach(loop_id, reverse) and not edge.on_error
        ]
        for loop_id in loops
    }
    backs: dict[str, Edge] = {}
    unresolved = list(loops)
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

    pointer = {node_id: i for i, node_id in enumerate(graph.nodes)}
    rewritten: list[Edge] = list(graph.edges)
    for loop_id in loops:
        back = backs.get(loop_id)
        if back is None:
            problems.append(
                Problem(
                    f"/nodes/{pointer[loop_id]}",
                    f"loop {loop_id!r} needs exactly one edge back to the start of its body "
                    f"(found {len(candidates[loop_id])})",
                )
            )
            continue
        if back.dst in graph.head_loop:
            problems.append(
                Problem(f"/edges/{back.index}", f"node {back.dst!r} already starts another loop")
            )
            continue
        graph.loop_head[loop_id] = back.dst
        graph.head_loop[back.dst] = loop_id
        rewritten[back.index] = Edge(back.index, back.src, back.dst, back.when, back=True)
    graph.edges = rewritten
    # Bodies follow forward edges only, so an outer loop's back edge does not pull the rest
    # of the outer body into an inner loop.
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for edge in rewritten:
        if not edge.back:
            forward.setdefault(edge.src, []).append(edge.dst)
            backward.setdefault(edge.dst, []).append(edge.src)
    for loop_id, head in graph.loop_head.items():
        body = (_reach(head, forward) & _reach(loop_id, backward)) - {loop_id}
        graph.loop_body[loop_id] = frozenset(body)


def _find_map_bodies(graph: Graph, document: dict[str, Any], problems: list[Problem]) -> None:
    touching = {e.src for e in graph.edges} | {e.dst for e in graph.edges}
    for index, node in enumerate(document.get("nodes", [])):
        if node["type"] != "map":
            continue
        body = (node.get("config") or {}).get("body")
        where = f"/nodes/{index}/config/body"
        if body not in graph.nodes:
            problems.append(Problem(where, f"map body {body!r} is not a node of this flow"))
        elif body == node["id"] or graph.nodes[body]["type"] in {"map", "loop", "join", "end"}:
            problems.append(Problem(where, f"node {body!r} cannot be a map body"))
        elif body in graph.map_body:
            problems.append(Problem(where, f"node {body!r} is already the body of another map"))
        elif body in touching:
            problems.append(
                Problem(where, f"map body {body!r} must have no edges (it runs once per item)")
            )
        else:
            graph.map_body[body] = node["id"]


def _check_acyclic(graph: Graph, problems: list[Problem]) -> None:
    indegree = {node_id: 0 for node_id in graph.nodes}
    for edge in graph.edges:
        if not edge.back:
            indegree[edge.dst] += 1
    queue = deque(node_id for node_id, degree in indegree.items() if degree == 0)
    order: list[str] = []
    while queue:
        node_id = queue.popleft()
        order.append(node_id)
        for edge in graph.all_out_edges(node_id):
            if edge.back:
                continue
            indegree[edge.dst] -= 1
            if indegree[edge.dst] == 0:
                queue.append(edge.dst)
    graph.order = order
    cyclic = [node_id for node_id, degree in indegree.items() if degree > 0]
    if cyclic:
        problems.append(
            Problem(
                "/edges",
                "cycle outside a loop node through "
                + ", ".join(sorted(cyclic)[:10])
                + " (a cycle must go back through a loop node)",
            )
        )


def _check_loop_boundaries(graph: Graph, problems: list[Problem]) -> None:
    for loop_id, body in graph.loop_body.items():
        head = graph.loop_head[loop_id]
        for edge in graph.edges:
            if edge.back:
                continue
            if edge.src in body and edge.dst not in body and edge.dst != loop_id:
                problems.append(
                    Problem(
                        f"/edges/{edge.index}",
                        f"edge leaves loop {loop_id!r} from inside its body; "
                        f"leave through the loop node",
                    )
                )
            entering = edge.dst == loop_id or (edge.dst in body and edge.dst != head)
            if entering and edge.src not in body:
                # The loop node itself runs inside its loop's scope; reached from outside, it
                # would have no iteration to count or go back to.
                problems.append(
                    Problem(
                        f"/edges/{edge.index}",
                        f"edge enters loop {loop_id!r} at {edge.dst!r}; enter at {head!r}",
                    )
                )


def _find_rounds(graph: Graph, document: dict[str, Any], problems: list[Problem]) -> None:
    """Resolve each approval's ``send_back_to`` into a round, or report why it cannot be one."""
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for edge in graph.edges:
        if not edge.back:
            forward.setdefault(edge.src, []).append(edge.dst)
            backward.setdefault(edge.dst, []).append(edge.src)
    for index, node in enumerate(document.get("nodes", [])):
        target = (node.get("config") or {}).get("send_back_to")
        if node["type"] != "approval" or not isinstance(target, str):
            continue
        approval = node["id"]
        where = f"/nodes/{index}/config/send_back_to"
        if target not in graph.nodes or target == approval:
            problems.append(Problem(where, f"send_back_to {target!r} is not another node here"))
            continue
        if approval not in _reach(target, forward):
            problems.append(
                Problem(
                    where,
                    f"no path leads from {target!r} to this approval: send back to a "
                    "node before it",
                )
            )
            continue
        if target in graph.map_body or approval in graph.map_body:
            problems.append(Problem(where, "a map body cannot take part in a send-back round"))
            continue
        body = frozenset((_reach(target, forward) & _reach(approval, backward)) - {approval})
        found = _round_boundary_problems(graph, approval, target, body)
        if found:
            problems += [Problem(where, message) for message in found]
            continue
        graph.round_head[approval] = target
        graph.head_rounds.setdefault(target, []).append(approval)
        graph.round_body[approval] = body
    _check_round_nesting(graph, document, problems)


def _round_boundary_problems(
    graph: Graph, approval: str, head: str, body: frozenset[str]
) -> list[str]:
    problems = []
    for edge in graph.edges:
        if edge.back:
            continue
        if edge.src in body and edge.dst not in body and edge.dst != approval:
            problems.append(
                f"{edge.src!r} → {edge.dst!r} leaves the send-back round of {approval!r} from "
                f"inside it; the round (from {head!r} to here) must be left through the approval"
            )
        entering = edge.dst == approval or (edge.dst in body and edge.dst != head)
        if entering and edge.src not in body:
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


def _check_round_nesting(graph: Graph, document: dict[str, Any], problems: list[Problem]) -> None:
    pointer = {node["id"]: i for i, node in enumerate(document.get("nodes", []))}
    rounds = sorted(graph.round_body)
    for first_index, first in enumerate(rounds):
        for second in rounds[first_index + 1 :]:
            a, b = graph.region_extent(first), graph.region_extent(second)
            if a & b and not (a <= graph.round_body[second] or b <= graph.round_body[first]):
                problems.append(
                    Problem(
                        f"/nodes/{pointer[second]}/config/send_back_to",
                        f"the send-back rounds of {first!r} and {second!r} overlap: one must lie "
                        "inside the other or apart from it",
                    )
                )


def _check_reachable(graph: Graph, document: dict[str, Any], problems: list[Problem]) -> None:
    adjacency: dict[str, list[str]] = {}
    for edge in graph.edges:
        adjacency.setdefault(edge.src, []).append(edge.dst)
    for body, map_node in graph.map_body.items():
        adjacency.setdefault(map_node, []).append(body)
    reached: set[str] = set()
    for entry in graph.entries:
        reached |= _reach(entry, adjacency)
    for index, node in enumerate(document.get("nodes", [])):
        if node["id"] not in reached and graph.entries:
            problems.append(
                Problem(f"/nodes/{index}", f"node {node['id']!r} is unreachable from the start")
            )


_CACHE: dict[tuple[str, ...], Graph] = {}


def row_key(row_id: int | None) -> tuple[str, ...]:
    """A process cache's key for a row: its id within the database the ORM talks to now
    (a process that points at another database, as some tests do, must not find the other
    database's row under the same id)."""
    from django.db import connection

    settings = connection.settings_dict
    return (str(settings["HOST"]), str(settings["PORT"]), str(settings["NAME"]), str(row_id))


def for_version(version_id: int, document: dict[str, Any]) -> Graph:
    """The compiled graph of a stored flow version. Versions are immutable and were validated
    when saved, so the graph is computed once per process and version."""
    key = row_key(version_id)
    graph = _CACHE.get(key)
    if graph is None:
        graph, problems = build(document)
        if problems:
            raise ValueError("; ".join(f"{p.pointer}: {p.message}" for p in problems))
        if len(_CACHE) > 512:
            _CACHE.clear()
        _CACHE[key] = graph
    return graph
