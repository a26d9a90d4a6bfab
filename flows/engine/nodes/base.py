"""What every node type is: a config schema, where it runs, and what it decides.

A node type never touches the database. Inline (control) nodes decide inside the transaction
that completed their predecessor; queued nodes execute on a Celery worker outside any
transaction. Both return an ``Outcome`` that the engine acts on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from controlroom import expressions

if TYPE_CHECKING:
    from agents.tools import Tool
    from flows.graph import Edge, Graph
    from flows.models import Run

#: A config problem: ``(path inside the node's config, message)``.
ConfigProblem = tuple[list[str | int], str]


class StepError(Exception):
    """A step failure, classified. The class decides what happens, not the call site.

    ``usage`` is what the failed attempt spent all the same (an agent's model calls before
    it failed, a failed child run's totals), billed to the run like a success's;
    ``details`` go into the step's ``input`` as a ``Done``'s do (an agent's ``routing``,
    which bills each stage to its own model)."""

    error_class: ClassVar[str] = "domain"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        usage: Usage | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.usage = usage
        self.details = details or {}


class DomainError(StepError):
    """Bad config, bad input, a refused request: retrying cannot help. Fails the step now."""

    error_class = "domain"


class TransientError(StepError):
    """A timeout, a 5xx, a dropped connection: retried with backoff by the step's policy."""

    error_class = "transient"


class Rejected(StepError):
    """A person or a deadline rejected what this step needed approved (a policy gate, a
    loop's escalation): the step fails with class ``rejected``."""

    error_class = "rejected"


def classified(
    error_class: str,
    message: str,
    *,
    usage: Usage | None = None,
    details: dict[str, Any] | None = None,
) -> StepError:
    """A step failure whose class is data (a child run's ``error_class``, one of
    ``flows.states.ErrorClass``): the subclass with that class, or a ``StepError`` carrying a
    class no subclass has (``crash``)."""
    for kind in (DomainError, TransientError, Rejected):
        if kind.error_class == error_class:
            return kind(message, usage=usage, details=details)
    error = StepError(message, usage=usage, details=details)
    error.error_class = error_class  # type: ignore[misc]
    return error


class Superseded(TransientError):
    """This attempt no longer owns its step (the reconciler requeued it, or the run was
    cancelled): it must stop before calling anything more. Its result would be discarded by
    the completion's fence anyway; stopping early keeps a lost-then-found worker from calling
    tools the new attempt calls too."""


def _never() -> bool:
    return False


@dataclass
class Usage:
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal("0")


@dataclass
class Done:
    """The node finished with ``output``. ``taken`` names the outgoing edge indexes to follow;
    ``None`` means the default rule (edges without a condition, and those whose condition
    holds). ``silent`` edges get no signal at all (a loop's exits while it goes round)."""

    output: Any
    taken: list[int] | None = None
    silent: list[int] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    ends_run: bool = False
    #: What the node was given and how it decided (memory, model routing...), merged into the
    #: step's ``input`` for the run page; never part of ``output``.
    details: dict[str, Any] = field(default_factory=dict)
    #: An approval sent back: start its send-back round again at this node (the round's head),
    #: in the round's next scope. Its own edges stay silent.
    send_back_to: str | None = None
    #: An approval rejected (by a person or a deadline) that took none of its edges: the run
    #: ends ``failed`` with class ``rejected`` and this message (``nodes.approval``).
    rejected: str | None = None


@dataclass
class ApprovalRequest:
    title: str
    draft: Any
    instructions: str = ""
    reason: str = ""
    assignee_role: str = "approver"
    deadline_minutes: int | None = None
    #: At the deadline: "reject", "approve" (only where the node allows it) or "escalate".
    on_deadline: str = ""
    escalate_to: str = ""
    remind_before_minutes: int | None = None
    #: The drafting agent's slug, for the inbox filters, rollups and earned autonomy.
    agent: str = ""
    #: Send-back round (0 for the first draft).
    round: int = 0
    #: Earned autonomy may let this one pass unreviewed (approval nodes; never escalations).
    samplable: bool = False
    #: "node" (an approval node) or "policy" (a guardrail parked an agent or tool step).
    source: str = "node"
    #: For a policy park: the key of the gated call (``flows.guardrails``).
    policy_key: str = ""


@dataclass
class SubflowRequest:
    flow: str
    input: dict[str, Any]
    version: int | None = None


@dataclass
class MapRequest:
    items: list[Any]
    concurrency: int


@dataclass
class Wait:
    """The node waits on the outside world; one of the fields says on what."""

    approval: ApprovalRequest | None = None
    due_at: datetime | None = None
    subflow: SubflowRequest | None = None
    map: MapRequest | None = None
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class Requeue:
    """Run the (waiting) step again on a worker: a policy park was approved, and the next
    execution passes the approved call (effects already made replay from the ledger)."""

    reason: str


Outcome = Done | Wait | Requeue


@dataclass
class NodeContext:
    """What a node sees: its config, its rendered-template variables and the graph around it."""

    node_id: str
    scope: str
    config: dict[str, Any]
    variables: dict[str, Any]
    graph: Graph
    idempotency_key: str = ""
    subject: str = ""
    run_id: str = ""
    step_input: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    step_id: int = 0
    # True once this attempt was superseded (the heartbeat found the step moved on).
    superseded: Callable[[], bool] = _never
    # What the worker's claim already read (``flows.engine.claims``): the run, and the
    # policies it is under. None where a node runs without a claim (inline, in tests).
    run: Any = None
    policies: list[Any] | None = None

    def render(self, value: Any) -> Any:
        try:
            return expressions.render_value(value, self.variables)
        except expressions.ExpressionError as exc:
            raise DomainError(str(exc)) from exc

    def evaluate(self, condition: str, extra: dict[str, Any] | None = None) -> bool:
        variables = {**self.variables, **(extra or {})}
        try:
            return expressions.evaluate(condition, variables)
        except expressions.ExpressionError as exc:
            raise DomainError(str(exc)) from exc

    @property
    def out_edges(self) -> list[Edge]:
        return self.graph.out_edges.get(self.node_id, [])


@dataclass(frozen=True)
class Known:
    """What a document may name outside its own nodes, for design-time checks
    (``NodeType.reference_problems``): the agent slugs an agent node may use (the document's
    inline agents and the agents table) and the tools a node may call (the tool registry,
    which has their argument schemas, or just their names; None: any tool)."""

    agents: Collection[str]
    tools: Collection[str] | Mapping[str, Tool] | None = None


class NodeType:
    """Base for node types. Subclasses set the class attributes and override what they do.

    Everything that differs by node type lives here, so code elsewhere asks the registry
    (``flows.engine.nodes.REGISTRY``) and never branches on a type's name: how it runs
    (``run``, ``resume``, ``select_edges``), how it is validated (``schema``,
    ``config_problems``, ``reference_problems``), the graph shape it gives (``closes_loop``,
    ``map_body``, ``send_back_target``, ``arrivals_needed``), how a retry and the policy
    simulator replay it (``reusable_in_retry``, ``calls_model``, ``tool_call``) and how pages
    summarise it (``agent_refs``, ``human_role``, ``is_action``). The defaults fit a plain
    node that runs once per activation and names nothing outside the document."""

    type: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    schema: ClassVar[dict[str, Any]]
    #: Crosses the Celery queue (waits on the outside world) instead of running inline.
    queued: ClassVar[bool] = False
    #: Carries side effects: gets an idempotency key and a retry policy.
    default_max_attempts: ClassVar[int] = 1
    #: Failure paths (``flows.engine.scheduler.Advance.fail_step``): whether the node may say
    #: ``on_error: continue`` (go on along its normal edges with ``{"error": …}`` as output),
    #: and whether it may have ``"on": "error"`` edges. The validator refuses the others.
    continues_on_error: ClassVar[bool] = True
    routes_errors: ClassVar[bool] = True
    #: Config fields the editor folds under "Advanced" (closed), and what that fold holds, in
    #: plain words: what a newcomer can leave alone, since empty fields keep their defaults.
    advanced: ClassVar[tuple[str, ...]] = ("retry", "timeout_seconds")
    advanced_note: ClassVar[str] = "Retries and a time limit. Empty fields keep the defaults."

    # --- graph shape (``flows.graph``, ``flows.layout``) ----------------------------------------
    #: Closes a loop: exactly one of its edges goes back to the start of its body, and its
    #: other edges leave the loop.
    closes_loop: ClassVar[bool] = False
    #: May be the node a ``map`` runs once per item (no edges of its own).
    can_be_map_body: ClassVar[bool] = True
    #: Its edges without a condition are the default route, taken only when no condition
    #: holds (the graph labels them "otherwise").
    routes_by_condition: ClassVar[bool] = False

    # --- the run as a whole (``flows.engine``) -------------------------------------------------
    #: While one of its steps waits, the run waits on a person (``waiting_approval``) rather
    #: than on a time or another run.
    waits_on_people: ClassVar[bool] = False
    #: A waiting step is resumed by the reconciler once its ``due_at`` has passed.
    wakes_at_due_time: ClassVar[bool] = False

    # --- replay and summaries (policy simulator, ROI, launch checklist, gallery) ----------------
    #: Calls a model: a replay asks the model-call and answer policies again, and its tool
    #: calls are recorded as ``ToolCall`` rows of its step.
    calls_model: ClassVar[bool] = False
    #: Counts as the flow's action (Trigger → Action → Feedback → ROI).
    is_action: ClassVar[bool] = False

    def config_problems(self, config: dict[str, Any]) -> list[ConfigProblem]:
        """Problems the schema cannot express (fields that need each other), as
        ``(path inside the config, message)``. Called only on a config the schema accepted."""
        return []

    def reference_problems(self, config: dict[str, Any], known: Known) -> list[ConfigProblem]:
        """Problems with what the config names outside the document's nodes (an agent, a tool
        and its arguments), as ``config_problems`` gives them. Called only on a config the
        schema accepted."""
        return []

    def map_body(self, config: dict[str, Any]) -> str | None:
        """The id of the node this one runs once per item (a map's ``body``, as written: the
        graph checks it names a node that may be one), or None for a node that runs none."""
        return None

    def send_back_target(self, config: dict[str, Any]) -> str | None:
        """The head of this node's send-back round (``flows.graph``), or None: no round."""
        return None

    def arrivals_needed(self, config: dict[str, Any], incoming: int) -> int:
        """How many of its ``incoming`` forward edges must be taken before it runs; the
        others may still be pending (all of them, by default)."""
        return incoming

    def queued_input(self, config: dict[str, Any], run: Run) -> dict[str, Any]:
        """What a queued step's ``input`` holds from the start in ``run``, beside what the
        engine puts there (an agent's definition as frozen with the run's version)."""
        return {}

    def claimed_input(
        self, step_input: dict[str, Any], config: dict[str, Any], agent_calls: Mapping[str, int]
    ) -> dict[str, Any]:
        """The input a worker runs the step with once claimed, given how many successful
        calls each agent already made in the run (``agent_calls``)."""
        return step_input

    def reusable_in_retry(self, output: Any, taken: list[int] | None) -> bool:
        """Whether a retry run reuses this node's success in the original run (its ``output``
        and the edges it ``taken``) instead of running it again."""
        return True

    def tool_call(self, config: dict[str, Any]) -> tuple[str, Any] | None:
        """The tool this node calls itself and its arguments, unrendered, for the policy
        simulator to render and replay; None for a node that calls no tool of its own."""
        return None

    def agent_refs(self, config: dict[str, Any]) -> list[str]:
        """The agent slugs this node acts through (frozen with the version, counted on
        template cards)."""
        return []

    def human_role(self, config: dict[str, Any]) -> str:
        """Where a person takes part: ``"approval"`` (reviews each case), ``"escalation"``
        (decides only when the node cannot) or ``""``."""
        return ""

    def run(self, ctx: NodeContext) -> Outcome:
        """Decide (inline) or execute (queued) the node. Raise ``StepError`` to fail it."""
        raise DomainError(f"node type {self.type} cannot run")

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Outcome:
        """Continue a waiting step with what it waited for (a decision, a child run...)."""
        raise DomainError(f"node type {self.type} does not wait")

    def unconditional_edges(self, edges: list[Edge]) -> list[int] | None:
        """The edges followed whatever the output, when that is known without a context:
        under the default rule, all of them when none has a condition. None otherwise."""
        if type(self).select_edges is not NodeType.select_edges:
            return None
        if any(edge.when is not None for edge in edges):
            return None
        return [edge.index for edge in edges]

    def select_edges(self, ctx: NodeContext, output: Any) -> list[int]:
        """Default edge rule: an edge is followed when it has no condition or its condition
        holds, with this step's output visible as ``output`` and ``steps.<id>.output``."""
        extra = _with_own_output(ctx, output)
        return [
            edge.index
            for edge in ctx.out_edges
            if edge.when is None or ctx.evaluate(edge.when, extra)
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "queued": self.queued,
            "config_schema": self.schema,
            # The node-level failure keys it accepts (beside ``config``).
            "on_error": ["fail", "continue"] if self.continues_on_error else ["fail"],
            "error_edges": self.routes_errors,
            # Where the editor's form folds them (the rest stays open).
            "advanced": [name for name in self.advanced if name in self.schema["properties"]],
            "advanced_note": self.advanced_note,
        }


def _with_own_output(ctx: NodeContext, output: Any) -> dict[str, Any]:
    steps = dict(ctx.variables.get("steps") or {})
    steps[ctx.node_id] = {"output": output, "status": "succeeded"}
    return {"steps": steps, "output": output}


def with_own_output(ctx: NodeContext, output: Any) -> dict[str, Any]:
    return _with_own_output(ctx, output)
