"""``join``: gather parallel branches. Inline; the engine decides *when* under the run lock.

Modes: ``all`` waits for every incoming branch (skipped ones count as arrived), ``any`` goes on
with the first branch to arrive, ``first`` goes on once ``count`` branches have arrived. The
output maps each arrived predecessor to its output.

``vote`` (consensus) waits like ``all``, then counts one ballot per arrived branch:

- ``key`` is a template rendered once per branch, seeing the run's usual names (``input``,
  ``steps``…) plus ``output`` (that branch's output) and ``branch`` (that branch's node id) —
  e.g. ``{{ output.decision }}``. A ballot is the rendered value as text, stripped; a ballot
  that renders empty (or null) is an abstention: it is not counted and is not dissent.
- The output is ``{"winner": <ballot>, "votes": {<ballot>: count}, "dissent": [branch ids whose
  ballot is not the winner, in arrival order], "ballots": {<branch id>: <ballot or null>}}``.
- *Arrival order* is the order in which the branches' completions were recorded under the run
  lock (``flows.engine.edges._fan_in`` hands the join its ``arrived`` list in that order);
  it is deterministic once the run has happened and is shown on the join step's input.
- A tie (several ballots share the highest count) is broken by ``tie``: ``first`` (the
  default) picks the tied ballot whose first vote arrived first; ``escalate`` puts the tie
  before a person as an approval (role ``approver``; draft ``{"tied", "winner", "votes",
  "branches"}`` with ``winner`` pre-filled by the ``first`` rule). Approving keeps the shown
  winner; edit-and-approve picks another by setting ``winner`` to one of ``tied``
  (``tie_choice``); rejecting fails the join with error class ``rejected`` and the reason.
- No ballot at all (every branch abstained) fails the join (domain error): there is nothing
  to decide on.
"""

from __future__ import annotations

import json
from typing import Any

from controlroom import expressions
from flows.engine.nodes.base import (
    ApprovalRequest,
    ConfigProblem,
    DomainError,
    Done,
    NodeContext,
    NodeType,
    StepError,
    Wait,
)
from flows.engine.nodes.schema import object_schema

MODES = ["all", "any", "first", "vote"]
TIE_RULES = ["first", "escalate"]


class Rejected(StepError):
    """A person rejected what the step put before them: the step fails with class
    ``rejected`` and their reason."""

    error_class = "rejected"


class JoinNode(NodeType):
    type = "join"
    title = "Join"
    description = "Wait for branches: all of them, any one, the first N, or a vote among them."
    can_be_map_body = False
    # A tied vote with ``tie: escalate`` waits on a person.
    waits_on_people = True
    advanced = ("tie", "retry", "timeout_seconds")
    advanced_note = "The tie rule of a vote, retries and a time limit. Empty keeps the defaults."
    schema = object_schema(
        {
            "mode": {
                "enum": MODES,
                "default": "all",
                "title": "Wait for",
                "description": "all branches, any one, the first N (count), or a vote.",
            },
            "count": {
                "type": "integer",
                "minimum": 1,
                "maximum": 500,
                "title": "Branches needed",
                "description": "For mode first: go on once this many have arrived.",
            },
            "key": {
                "type": "string",
                "format": "template",
                "minLength": 1,
                "maxLength": 2000,
                "title": "Ballot",
                "description": "For a vote: each branch's ballot, e.g. {{ output.decision }} "
                "(sees output and branch).",
            },
            "tie": {
                "enum": TIE_RULES,
                "default": "first",
                "title": "On a tie",
                "description": "first: the ballot that arrived first wins; escalate: a person "
                "picks.",
            },
        }
    )

    def config_problems(self, config: dict[str, Any]) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        vote = config.get("mode") == "vote"
        if vote and "key" not in config:
            problems.append(
                (["key"], "join mode 'vote' needs a key template, e.g. {{ output.decision }}")
            )
        for name in ("key", "tie"):
            if name in config and not vote:
                problems.append(([name], f"{name} is used only with join mode 'vote'"))
        if config.get("mode") == "first" and "count" not in config:
            problems.append((["count"], "join mode 'first' needs a count"))
        return problems

    def arrivals_needed(self, config: dict[str, Any], incoming: int) -> int:
        return required_arrivals(config, incoming)

    def human_role(self, config: dict[str, Any]) -> str:
        return "escalation" if config.get("tie") == "escalate" else ""

    def run(self, ctx: NodeContext) -> Done | Wait:
        arrived = ctx.step_input.get("arrived", [])
        steps = ctx.variables.get("steps") or {}
        outputs = {src: (steps.get(src) or {}).get("output") for src in arrived}
        if ctx.config.get("mode") != "vote":
            return Done(output=outputs)
        ballots = {branch: _ballot(ctx, branch, output) for branch, output in outputs.items()}
        votes = tally(ballots)
        if not votes:
            raise DomainError(
                f"join {ctx.node_id!r}: no branch voted (the key rendered empty for each of "
                f"{', '.join(outputs) or 'no branch'})"
            )
        top = max(votes.values())
        tied = [value for value, count in votes.items() if count == top]
        if len(tied) == 1 or ctx.config.get("tie", "first") == "first":
            return Done(output=vote_output(ballots, tied[0]))
        draft = {"tied": tied, "winner": tied[0], "votes": votes, "branches": outputs}
        return Wait(
            approval=ApprovalRequest(
                title=f"Break the tie: {ctx.node_id} ({' / '.join(tied)})"[:300],
                draft=draft,
                instructions=(
                    f"The branches tied {top} votes each between {', '.join(map(repr, tied))}. "
                    "Approve to keep the winner shown, or edit 'winner' to another of the tied "
                    "values and approve. Rejecting fails this step."
                ),
                reason=f"join {ctx.node_id!r}: tied vote",
            ),
            input={"ballots": ballots, "tied": tied},
        )

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        """A person broke the tie: approved (the shown or edited ``winner``) or rejected."""
        if payload.get("decision") != "approved":
            who = payload.get("decided_by") or "the system"
            reason = payload.get("reason") or "no reason given"
            raise Rejected(f"the tie was rejected by {who}: {reason}")
        stored = ctx.step_input.get("ballots") or {}
        # Stored objects lose their key order: arrival order comes from the ``arrived`` list.
        ballots = {branch: stored.get(branch) for branch in ctx.step_input.get("arrived", [])}
        try:
            winner = tie_choice({"tied": ctx.step_input.get("tied")}, payload.get("output"))
        except ValueError as exc:
            raise DomainError(str(exc)) from exc
        return Done(output=vote_output(ballots, winner))


def _ballot(ctx: NodeContext, branch: str, output: Any) -> str | None:
    """One branch's ballot: ``key`` rendered with ``output`` and ``branch``; None abstains."""
    variables = {**ctx.variables, "output": output, "branch": branch}
    try:
        value = expressions.render(str(ctx.config["key"]), variables)
    except expressions.ExpressionError as exc:
        raise DomainError(f"join {ctx.node_id!r} key, for branch {branch!r}: {exc}") from exc
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.strip() or None


def tally(ballots: dict[str, str | None]) -> dict[str, int]:
    """Votes per ballot value, in the order each value was first cast (abstentions left out)."""
    votes: dict[str, int] = {}
    for value in ballots.values():
        if value is not None:
            votes[value] = votes.get(value, 0) + 1
    return votes


def vote_output(ballots: dict[str, str | None], winner: str) -> dict[str, Any]:
    """The vote's output for ``winner`` (see the module docstring for its shape)."""
    return {
        "winner": winner,
        "votes": tally(ballots),
        "dissent": [branch for branch, value in ballots.items() if value not in (None, winner)],
        "ballots": ballots,
    }


def is_tie_draft(draft: Any) -> bool:
    """Whether ``draft`` is a vote tie put before a person (see ``JoinNode.run``)."""
    return isinstance(draft, dict) and isinstance(draft.get("tied"), list) and "winner" in draft


def tie_choice(draft: dict[str, Any], output: Any) -> str:
    """The winner a person chose for a tie: ``output["winner"]`` (or ``output`` itself when it
    is not an object). Raises ``ValueError`` naming the tied values when it is none of them."""
    chosen = output.get("winner") if isinstance(output, dict) else output
    tied = list(draft.get("tied") or [])
    if chosen not in tied:
        raise ValueError(
            f"the winner must be one of the tied values {', '.join(map(repr, tied))}; "
            f"got {chosen!r}"
        )
    return str(chosen)


def required_arrivals(config: dict[str, object], incoming: int) -> int:
    """How many taken branches a join needs before it runs (a vote waits for all)."""
    mode = config.get("mode", "all")
    if mode == "any":
        return 1
    if mode == "first":
        count: Any = config.get("count", 1) or 1
        return min(int(count), incoming)
    return incoming


NODE = JoinNode()
