"""The variables templates see: ``input``, ``steps.<id>.output``, ``item``, ``loop``,
``feedback``...

``steps.<id>`` resolves, for a step in scope S, to the succeeded step of that node in the same
scope if there is one, else the one whose scope shares the longest prefix with S, the latest
first. So inside a loop the writer of iteration 2 reads the auditor of iteration 1, and after a
loop ``steps.writer`` is the final draft. A step that failed for good while its run went on
(an error edge was taken) is visible the same way, as ``{"output": None, "status": "failed",
"error": {"class", "message"}}``: that is ``steps.<id>.error`` downstream.

``feedback`` is defined in a send-back round after the first (``~review#1``...): what the
person who sent the draft back said — ``{"notes", "decided_by", "round", "previous_draft"}``,
from the approval step of the round before. Elsewhere it is undefined (renders empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.models import Run, Step
from flows.scopes import ROUND_PREFIX, item_index, iteration_of, round_of
from flows.states import StepStatus


@dataclass
class Outputs:
    """Succeeded step outputs of one run, by node: ``[(scope, step id, output)]``; and the
    errors of its failed steps, by node: ``[(scope, step id, {"class", "message"})]``."""

    by_node: dict[str, list[tuple[str, int, Any]]] = field(default_factory=dict)
    errors: dict[str, list[tuple[str, int, dict[str, str]]]] = field(default_factory=dict)

    @classmethod
    def load(cls, run_id: Any) -> Outputs:
        outputs = cls()
        rows = (
            Step.objects.filter(run_id=run_id, status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED])
            .order_by("id")
            .values_list("node_id", "scope", "id", "output", "status", "error_class", "error")
        )
        for node_id, scope, step_id, output, status, error_class, error in rows:
            if status == StepStatus.FAILED:
                outputs.add_error(node_id, scope, step_id, error_dict(error_class, error))
            else:
                outputs.add(node_id, scope, step_id, output)
        return outputs

    def add(self, node_id: str, scope: str, step_id: int, output: Any) -> None:
        self.by_node.setdefault(node_id, []).append((scope, step_id, output))

    def add_error(self, node_id: str, scope: str, step_id: int, error: dict[str, str]) -> None:
        self.errors.setdefault(node_id, []).append((scope, step_id, error))

    def visible(self, scope: str) -> dict[str, dict[str, Any]]:
        mine = scope.split("/") if scope else []
        visible: dict[str, dict[str, Any]] = {}
        for node_id, entries in self.by_node.items():
            best = max(entries, key=lambda entry: (_shared(mine, entry[0]), entry[1]))
            visible[node_id] = {"output": best[2], "status": "succeeded"}
        for node_id, failures in self.errors.items():
            failed = max(failures, key=lambda entry: (_shared(mine, entry[0]), entry[1]))
            succeeded = self.by_node.get(node_id)
            if succeeded:
                best = max(succeeded, key=lambda entry: (_shared(mine, entry[0]), entry[1]))
                if (_shared(mine, best[0]), best[1]) > (_shared(mine, failed[0]), failed[1]):
                    continue
            visible[node_id] = {"output": None, "status": "failed", "error": failed[2]}
        return visible


def error_dict(error_class: str, message: str) -> dict[str, str]:
    """A failure as templates see it (``steps.<id>.error``, ``on_error: continue`` output)."""
    return {"class": error_class, "message": message}


def _shared(mine: list[str], other: str) -> tuple[int, int]:
    theirs = other.split("/") if other else []
    common = 0
    for a, b in zip(mine, theirs, strict=False):
        if a != b:
            break
        common += 1
    exact = 1 if mine == theirs else 0
    return (exact, common)


def variables(
    *, run: Run, scope: str, outputs: Outputs, step_input: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The template variables for a step of ``run`` in ``scope``."""
    step_input = step_input or {}
    steps = outputs.visible(scope)
    previous_node = step_input.get("previous_node")
    values: dict[str, Any] = {
        "input": run.input,
        "subject": run.subject,
        "run": {"id": str(run.id), "subject": run.subject, "flow": run.flow_id},
        "steps": steps,
        "previous": (steps.get(previous_node) or {}).get("output") if previous_node else None,
    }
    located = item_index(scope)
    if located is not None:
        values["item"] = step_input.get("item")
        values["index"] = located[1]
    feedback = _feedback(scope, outputs)
    if feedback is not None:
        values["feedback"] = feedback
    innermost_loop = _innermost_loop(scope)
    if innermost_loop is not None:
        values["loop"] = {"node": innermost_loop, "iteration": iteration_of(scope, innermost_loop)}
    return values


def _feedback(scope: str, outputs: Outputs) -> dict[str, Any] | None:
    """The notes of the send-back that started this round, if it is a later round."""
    found = round_of(scope)
    if found is None or found[1] == 0:
        return None
    approval, iteration, previous = found
    sent_back = next(
        (
            output
            for entry_scope, _, output in outputs.by_node.get(approval, [])
            if entry_scope == previous
        ),
        None,
    )
    if not isinstance(sent_back, dict):
        return None
    return {
        "notes": sent_back.get("notes") or "",
        "decided_by": sent_back.get("decided_by"),
        "round": iteration,
        "previous_draft": sent_back.get("draft"),
    }


def _innermost_loop(scope: str) -> str | None:
    for part in reversed(scope.split("/") if scope else []):
        if not part.startswith(("@", ROUND_PREFIX)):
            return part.split("#", 1)[0]
    return None
