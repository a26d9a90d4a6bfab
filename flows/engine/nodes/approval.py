"""``approval``: park the run until a person approves, edits, rejects or sends back a draft.
Inline.

The run holds no worker while it waits. On approval, the edges without a condition are
followed; edges with a condition (``steps.review.output.decision == 'rejected'``) are checked
either way, so a flow can route rejections somewhere.

Rejections: a rejection (by a person, or by a deadline with ``on_deadline: reject`` or after an
escalation) that *no edge continues* — none of the node's outgoing edges is taken: no edge has
a condition that holds for the rejected output — ends the run ``failed`` with error class
``rejected`` and the reason as its error (the approver's reason, or the deadline's). Whatever
else the run was doing is cancelled, as when a step fails; nothing after the approval runs. A
rejection some edge continues is an ordinary step result: the step succeeds, with
``decision: "rejected"`` in its output, and the run goes on along the edges taken. The approval
step itself always succeeds (a person decided): its output keeps the decision. Not a
rejection here: a send-back (the round starts again) and an item of a ``map`` (the map
gathers the rejected output with the others and goes on).

Failures: the node itself can fail (a template that does not render...). Its error edges
(``"on": "error"``) route that failure; ``on_error: continue`` is refused on this node type,
since going on along its edges would pass the draft unreviewed. A rejection is not a failure:
error edges and ``on_error`` never apply to it.

What is reviewed: ``draft`` (a template, by default the previous step's output), or an exact
tool call — ``tool`` plus its templated ``arguments`` — shown as ``{"tool", "arguments"}`` with
a form generated from the tool's argument schema.

Send back: with ``send_back_to: <node>``, a person may reject *and send the draft back* with
notes. The nodes from that one to here form a send-back round (``flows.graph``); the round runs
again, as new steps in the next round's scope, and its templates see the notes as
``{{ feedback.notes }}``. At most ``max_send_backs`` times (default 3).

Deadlines: ``deadline_minutes`` and ``on_deadline`` — ``reject`` (the default), ``escalate``
(to ``escalate_to``, with a fresh deadline of ``escalation_deadline_minutes``, then rejected if
still undecided), or ``approve``, which needs ``allow_auto_approve: true`` on the node: nothing
is approved unseen unless the designer wrote so. ``remind_before_minutes`` sends a reminder.
The reconciler fires them (``flows.engine.reconciler.fire_due_approvals``).

Earned autonomy: ``autonomy`` tunes the rule that suggests sampling (see
``flows.approvals.autonomy``); sampling applies only once a designer turns it on.
"""

from __future__ import annotations

from typing import Any

from flows.engine.nodes.base import (
    ApprovalRequest,
    ConfigProblem,
    DomainError,
    Done,
    Known,
    NodeContext,
    NodeType,
    Wait,
    with_own_output,
)
from flows.engine.nodes.schema import object_schema
from flows.engine.nodes.tool import tool_call_problems
from flows.scopes import iteration_of, round_part

ROLES = ["approver", "designer", "admin"]
DEFAULT_MAX_SEND_BACKS = 3
AUTONOMY_DEFAULTS = {"window": 20, "threshold": 0.95, "sample_one_in": 5}


class ApprovalNode(NodeType):
    type = "approval"
    title = "Approval"
    description = (
        "A person approves, edits, rejects or sends back the draft before the flow goes on."
    )
    # Going on along its edges after it failed would pass the draft unreviewed.
    continues_on_error = False
    waits_on_people = True
    # A newcomer needs the title, the draft, who approves and the deadline.
    advanced = (
        "instructions",
        "on_deadline",
        "allow_auto_approve",
        "escalate_to",
        "escalation_deadline_minutes",
        "remind_before_minutes",
        "send_back_to",
        "max_send_backs",
        "tool",
        "arguments",
        "autonomy",
        "retry",
        "timeout_seconds",
    )
    advanced_note = (
        "Optional. By default the draft is rejected at the deadline, nobody is reminded, it "
        "cannot be sent back, and every draft is reviewed. Here: instructions for the "
        "approver, what the deadline does, escalation, reminders, send-backs, reviewing an "
        "exact tool call instead of a draft, and earned autonomy."
    )
    schema = object_schema(
        {
            "title": {
                "type": "string",
                "format": "template",
                "maxLength": 300,
                "title": "Title",
                "description": "What the approver sees first in the inbox.",
            },
            "draft": {
                "type": "string",
                "format": "template",
                "title": "Draft to review",
                "description": "What they approve, edit or reject, e.g. "
                "{{ steps.write.output }} (default: the previous step's output).",
            },
            "tool": {
                "type": "string",
                "minLength": 1,
                "title": "Review a tool call",
                "description": "Review an exact call of this tool instead of a text draft.",
            },
            "arguments": {
                "type": "object",
                "format": "template-object",
                "title": "Tool arguments",
                "description": "The call the approver sees and may edit.",
            },
            "instructions": {
                "type": "string",
                "format": "template",
                "maxLength": 5000,
                "title": "Instructions",
                "description": "What the approver should check (a template, like the title).",
            },
            "assignee_role": {
                "enum": ROLES,
                "default": "approver",
                "title": "Who approves",
                "description": "The role whose members may decide.",
            },
            "deadline_minutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": 525600,
                "title": "Deadline (minutes)",
                "description": "Empty: no deadline. When it passes, the draft is rejected "
                "unless Advanced says otherwise.",
            },
            "on_deadline": {
                "enum": ["reject", "approve", "escalate"],
                "default": "reject",
                "title": "At the deadline",
                "description": "Reject, approve (needs auto-approve allowed) or escalate.",
            },
            "allow_auto_approve": {
                "type": "boolean",
                "default": False,
                "title": "Allow approving unseen at the deadline",
                "description": "Needed for approve at the deadline: nothing passes unseen "
                "unless this is ticked.",
            },
            "escalate_to": {
                "enum": ROLES,
                "title": "Escalate to",
                "description": "The role that decides after the deadline (with escalate).",
            },
            "escalation_deadline_minutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": 525600,
                "title": "Escalation deadline (minutes)",
                "description": "Default: as long as the first. Still undecided then: rejected.",
            },
            "remind_before_minutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": 525600,
                "title": "Remind before the deadline (minutes)",
                "description": "The approvers get a reminder this long before it.",
            },
            "send_back_to": {
                "type": "string",
                "pattern": r"^[A-Za-z][A-Za-z0-9_-]{0,63}$",
                "title": "Send back to",
                "description": "A node id: the approver may send the draft back there with "
                "notes, and the steps from it run again.",
            },
            "max_send_backs": {
                "type": "integer",
                "minimum": 1,
                "maximum": 20,
                "title": "Send-backs at most",
                "description": "Default 3.",
            },
            "autonomy": {
                "type": "object",
                "title": "Earned autonomy",
                "description": "When people keep approving unchanged, suggest reviewing only "
                "a sample (a designer turns it on).",
                "additionalProperties": False,
                "properties": {
                    "window": {
                        "type": "integer",
                        "minimum": 5,
                        "maximum": 500,
                        "title": "Decisions looked at",
                        "description": "The last N decisions (default 20).",
                    },
                    "threshold": {
                        "type": "number",
                        "minimum": 0.5,
                        "maximum": 1,
                        "title": "Share approved unchanged",
                        "description": "From 0.5 to 1 (default 0.95).",
                    },
                    "sample_one_in": {
                        "type": "integer",
                        "minimum": 2,
                        "maximum": 100,
                        "title": "Review one in",
                        "description": "Default 5.",
                    },
                },
            },
        }
    )

    def config_problems(self, config: dict[str, Any]) -> list[ConfigProblem]:
        problems = _draft_problems(config) + _deadline_problems(config)
        if "max_send_backs" in config and "send_back_to" not in config:
            problems.append((["max_send_backs"], "max_send_backs needs send_back_to"))
        return problems

    def reference_problems(self, config: dict[str, Any], known: Known) -> list[ConfigProblem]:
        """The arguments of a reviewed tool call, when the tool is known."""
        if "tool" not in config:
            return []
        return tool_call_problems(config, known.tools, field="arguments")

    def send_back_target(self, config: dict[str, Any]) -> str | None:
        target = config.get("send_back_to")
        return target if isinstance(target, str) else None

    def reusable_in_retry(self, output: Any, taken: list[int] | None) -> bool:
        """A rejection that no edge continued (what failed the original run) is asked again."""
        rejected = isinstance(output, dict) and output.get("decision") == "rejected"
        return not (rejected and taken == [])

    def human_role(self, config: dict[str, Any]) -> str:
        return "approval"

    def run(self, ctx: NodeContext) -> Wait:
        config = ctx.config
        title = ctx.render(config.get("title") or f"Review: {ctx.node_id}")
        if config.get("tool"):
            arguments = ctx.render(config.get("arguments") or {})
            draft: Any = {"tool": str(config["tool"]), "arguments": arguments}
        elif config.get("draft"):
            draft = ctx.render(config["draft"])
        else:
            draft = ctx.variables.get("previous")
        on_deadline = (
            str(config.get("on_deadline", "reject")) if "deadline_minutes" in config else ""
        )
        return Wait(
            approval=ApprovalRequest(
                title=str(title)[:300],
                draft=draft,
                instructions=str(ctx.render(config.get("instructions", ""))),
                reason=f"approval node {ctx.node_id!r}",
                assignee_role=str(config.get("assignee_role", "approver")),
                deadline_minutes=config.get("deadline_minutes"),
                on_deadline=on_deadline,
                escalate_to=str(config.get("escalate_to", "")),
                remind_before_minutes=config.get("remind_before_minutes"),
                agent=drafting_agent(ctx),
                round=round_number(ctx),
                # A redraft after a send-back is always put before a person.
                samplable=round_number(ctx) == 0,
            )
        )

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        decision = payload["decision"]
        if decision == "sent_back":
            head = ctx.config.get("send_back_to")
            if not head:
                raise DomainError(f"approval {ctx.node_id!r} has no send_back_to")
            output = {
                "decision": "sent_back",
                "notes": payload.get("reason", ""),
                "reason": payload.get("reason", ""),
                "decided_by": payload.get("decided_by"),
                "draft": payload.get("draft"),
                "round": round_number(ctx),
                "edited": False,
                "output": None,
            }
            silent = [edge.index for edge in ctx.out_edges]
            return Done(output=output, taken=[], silent=silent, send_back_to=str(head))
        output = {
            "decision": decision,
            "output": payload.get("output"),
            "edited": bool(payload.get("edited")),
            "reason": payload.get("reason", ""),
            "decided_by": payload.get("decided_by"),
            "round": round_number(ctx),
        }
        approved = decision == "approved"
        extra = with_own_output(ctx, output)
        taken = [
            edge.index
            for edge in ctx.out_edges
            if (edge.when is None and approved)
            or (edge.when is not None and ctx.evaluate(edge.when, extra))
        ]
        rejected = None
        if decision == "rejected" and not taken and ctx.node_id not in ctx.graph.map_body:
            rejected = str(payload.get("reason") or f"approval {ctx.node_id!r} was rejected")
        return Done(output=output, taken=taken, rejected=rejected)


def _draft_problems(config: dict[str, Any]) -> list[ConfigProblem]:
    """What is reviewed: a draft or a tool call (with its arguments), not both."""
    problems: list[ConfigProblem] = []
    if "draft" in config and "tool" in config:
        problems.append((["tool"], "review either a draft or a tool call, not both"))
    if "arguments" in config and "tool" not in config:
        problems.append((["arguments"], "arguments belong to a tool: name the tool"))
    return problems


def _deadline_problems(config: dict[str, Any]) -> list[ConfigProblem]:
    """The deadline's fields: each needs ``deadline_minutes``, approving unseen needs
    ``allow_auto_approve``, escalating needs ``escalate_to``, a reminder comes before."""
    deadline = config.get("deadline_minutes")
    timed = ("on_deadline", "escalate_to", "remind_before_minutes", "allow_auto_approve")
    problems: list[ConfigProblem] = [
        ([name], f"{name} needs deadline_minutes")
        for name in timed
        if name in config and deadline is None
    ]
    on_deadline = config.get("on_deadline", "reject")
    if on_deadline == "approve" and config.get("allow_auto_approve") is not True:
        problems.append(
            (
                ["on_deadline"],
                "approving at the deadline approves unseen drafts: it needs "
                "allow_auto_approve: true on this node",
            )
        )
    problems += _escalation_problems(config, on_deadline)
    remind = config.get("remind_before_minutes")
    if remind is not None and deadline is not None and remind >= deadline:
        problems.append((["remind_before_minutes"], "the reminder must come before the deadline"))
    return problems


def _escalation_problems(config: dict[str, Any], on_deadline: str) -> list[ConfigProblem]:
    """``escalate_to`` goes with ``on_deadline: escalate``, both ways, and so does
    ``escalation_deadline_minutes``."""
    problems: list[ConfigProblem] = []
    if on_deadline == "escalate" and "escalate_to" not in config:
        problems.append((["escalate_to"], "on_deadline 'escalate' needs escalate_to"))
    if "escalate_to" in config and on_deadline != "escalate":
        problems.append((["escalate_to"], "escalate_to is used only with on_deadline 'escalate'"))
    if "escalation_deadline_minutes" in config and on_deadline != "escalate":
        problems.append((["escalation_deadline_minutes"], "only used with on_deadline 'escalate'"))
    return problems


def round_number(ctx: NodeContext) -> int:
    """How many times this approval's draft was sent back before this step."""
    return iteration_of(ctx.scope, round_part(ctx.node_id)) or 0


def drafting_agent(ctx: NodeContext) -> str:
    """The agent whose draft this is: the send-back target's, else the previous step's."""
    for node_id in (ctx.config.get("send_back_to"), ctx.step_input.get("previous_node")):
        if not isinstance(node_id, str) or node_id not in ctx.graph.nodes:
            continue
        agents = ctx.graph.kind(node_id).agent_refs(ctx.graph.config(node_id))
        if agents:
            return agents[0]
    return ""


def max_send_backs(config: dict[str, Any]) -> int:
    """How many times a draft may be sent back (0 when the node cannot send back)."""
    if not config.get("send_back_to"):
        return 0
    return int(config.get("max_send_backs", DEFAULT_MAX_SEND_BACKS))


def autonomy_rule(config: dict[str, Any]) -> dict[str, Any]:
    """The earned-autonomy rule of a node: its ``autonomy`` settings over the defaults."""
    return {**AUTONOMY_DEFAULTS, **(config.get("autonomy") or {})}


NODE = ApprovalNode()
