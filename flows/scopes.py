"""Scope strings: where in a run's loops, map items and send-back rounds a step runs.

A scope is a ``/``-separated path of parts, outermost first: ``<loop>#<n>`` (iteration n of a
loop), ``@<map>#<i>`` (item i of a map) and ``~<approval>#<n>`` (round n of an approval's
send-back round); the empty string is the top level. Pure string functions: the graph
(``flows.graph``) decides which parts an edge pushes, pops or bumps, node types read their
iteration here, and neither needs the other to do so.
"""

from __future__ import annotations

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


def push(scope: str, part: str) -> str:
    """``scope`` with ``part`` appended as its innermost part."""
    return f"{scope}/{part}" if scope else part


def pop(scope: str, region: str) -> str:
    """``scope`` without its innermost part, which must be an iteration of ``region`` (a loop
    or a round part); ValueError otherwise."""
    parts = scope.split("/") if scope else []
    if not parts or not parts[-1].startswith(f"{region}#"):
        raise ValueError(f"scope {scope!r} is not inside loop {region!r}")
    return "/".join(parts[:-1])


def bump(scope: str, region: str) -> str:
    """``scope`` with its innermost part, an iteration of ``region``, moved to the next
    iteration; ValueError when the innermost part is not of ``region``."""
    parts = scope.split("/") if scope else []
    if not parts or not parts[-1].startswith(f"{region}#"):
        raise ValueError(f"scope {scope!r} is not inside loop {region!r}")
    iteration = int(parts[-1].split("#", 1)[1])
    parts[-1] = f"{region}#{iteration + 1}"
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
    """The scope item ``index`` of ``map_node`` runs in, inside ``scope``."""
    return push(scope, f"@{map_node}#{index}")


def map_parent_scope(scope: str) -> str:
    """The scope around a map item's scope (the map node's own)."""
    return "/".join(scope.split("/")[:-1])
