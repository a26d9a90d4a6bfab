"""The shape of a flow document's graph, computed once per version.

Pure: takes a document dict, returns a ``Graph`` (or structural problems). The engine walks
edges with it; the validator reports its problems with JSON pointers.

Which node closes a loop, runs a map body or owns a send-back round is asked of its node type
(``Graph.kind``: ``closes_loop``, ``map_body``, ``send_back_target``); the regions themselves are
found in ``flows.regions``.

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
from dataclasses import dataclass, field
from typing import Any

from flows import regions
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import NodeType
from flows.scopes import bump, pop, push, round_part

#: What an unknown node type (refused by the validator) is taken for: the defaults.
PLAIN = NodeType()


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

    def kind(self, node_id: str) -> NodeType:
        """The node's type from the registry, which says how it behaves."""
        return REGISTRY.get(self.node_type(node_id), PLAIN)

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
            scope = bump(scope, edge.src)
        elif self.kind(edge.src).closes_loop:
            # An exit leaves the loop's scope, even when it leads straight into another loop.
            scope = pop(scope, edge.src)
        elif edge.src in self.round_head:
            scope = pop(scope, round_part(edge.src))
        return self._enter(scope, edge.src, edge.dst)

    def send_back_scope(self, scope: str, approval: str) -> str:
        """The scope the head of ``approval``'s round starts again in when a person sends the
        draft back from ``scope``: the round's next iteration, plus iteration 0 of any loop
        inside the round that the head starts."""
        scope = bump(scope, round_part(approval))
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
        headed: list[tuple[str, str]] = []
        loop = self.head_loop.get(dst)
        if loop is not None:
            headed.append((loop, loop))
        headed += [(approval, round_part(approval)) for approval in self.head_rounds.get(dst, [])]
        entered = [
            (closer, part)
            for closer, part in headed
            if src is None or src not in self.region_extent(closer)
        ]
        entered.sort(key=lambda region: -len(self.region_extent(region[0])))
        for _, part in entered:
            scope = push(scope, f"{part}#0")
        return scope


def build(document: dict[str, Any]) -> tuple[Graph, list[Problem]]:
    """Compute the graph of a document whose nodes and edges are already well-formed lists.

    Returns the graph and the structural problems found (dangling edges, cycles outside loops,
    unreachable nodes, misplaced map bodies). The graph is only safe to run with no problems.
    """
    nodes, problems = _read_nodes(document)
    edges = _read_edges(document, nodes, problems)
    graph = Graph(nodes=nodes, edges=edges)
    if problems:
        return graph, problems

    reverse: dict[str, list[str]] = {}
    for edge in edges:
        reverse.setdefault(edge.dst, []).append(edge.src)
    problems += [Problem(*found) for found in regions.find_loops(graph, reverse)]
    _find_map_bodies(graph, document, problems)
    for edge in graph.edges:
        outgoing = graph.error_edges if edge.on_error else graph.out_edges
        outgoing.setdefault(edge.src, []).append(edge)
        if not edge.back:
            graph.in_forward.setdefault(edge.dst, []).append(edge)
    _check_acyclic(graph, problems)
    problems += [Problem(*found) for found in regions.check_loop_boundaries(graph)]
    problems += [Problem(*found) for found in regions.find_rounds(graph, document)]
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


def _read_nodes(document: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """The nodes by id, in document order; a repeated id is a problem (the first one counts)."""
    problems: list[Problem] = []
    nodes: dict[str, dict[str, Any]] = {}
    for index, node in enumerate(document.get("nodes", [])):
        if node["id"] in nodes:
            problems.append(Problem(f"/nodes/{index}/id", f"duplicate node id {node['id']!r}"))
            continue
        nodes[node["id"]] = node
    return nodes, problems


def _read_edges(
    document: dict[str, Any], nodes: dict[str, dict[str, Any]], problems: list[Problem]
) -> list[Edge]:
    """The edges in document order, with what is wrong with each added to ``problems``."""
    edges: list[Edge] = []
    seen_pairs: set[tuple[str, str]] = set()
    for index, raw in enumerate(document.get("edges", [])):
        problems += [
            Problem(f"/edges/{index}/{end}", f"edge points to unknown node {raw[end]!r}")
            for end in ("from", "to")
            if raw[end] not in nodes
        ]
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
    return edges


def _find_map_bodies(graph: Graph, document: dict[str, Any], problems: list[Problem]) -> None:
    """Record each map's body node, or report why it cannot be one."""
    touching = {e.src for e in graph.edges} | {e.dst for e in graph.edges}
    for index, node in enumerate(document.get("nodes", [])):
        body = graph.kind(node["id"]).map_body(graph.config(node["id"]))
        if body is None:
            continue
        where = f"/nodes/{index}/config/body"
        if body not in graph.nodes:
            problems.append(Problem(where, f"map body {body!r} is not a node of this flow"))
        elif body == node["id"] or not graph.kind(body).can_be_map_body:
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


def _check_reachable(graph: Graph, document: dict[str, Any], problems: list[Problem]) -> None:
    adjacency: dict[str, list[str]] = {}
    for edge in graph.edges:
        adjacency.setdefault(edge.src, []).append(edge.dst)
    for body, map_node in graph.map_body.items():
        adjacency.setdefault(map_node, []).append(body)
    reached: set[str] = set()
    for entry in graph.entries:
        reached |= regions.reach(entry, adjacency)
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
