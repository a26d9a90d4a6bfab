"""What policies are evaluated on (``Facts``) and what they answer (``Decision``).

Pure data: ``flows`` gathers the facts (spend so far, counts in a window, the step, the call)
and acts on the decisions; nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.utils import timezone

#: Where the orchestrator asks: before a step, before a model call, before a tool call, and
#: after an output.
POINTS = ("step", "model_call", "tool_call", "output")
VERDICTS = ("allow", "redact", "require_approval", "block")  # mildest first
KINDS = (
    "approval",
    "rate_limit",
    "quiet_hours",
    "budget",
    "limits",
    "tool_scope",
    "pii",
    "content",
)
SCOPES = ("global", "flow", "agent", "tool")
#: Budget periods: the run, or the flow per UTC day / month.
PERIODS = ("run", "flow_day", "flow_month")


class PolicyLike(Protocol):
    """A policy as ``evaluate`` reads it: an ``agents.models.Policy`` row or a ``PolicySpec``."""

    @property
    def slug(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def verdict(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def config(self) -> Any: ...


@dataclass(frozen=True)
class PolicySpec:
    """A policy without a row: one from a flow document's ``policies[]`` (scope: that flow)."""

    slug: str
    kind: str
    verdict: str
    reason: str = ""
    config: Any = field(default_factory=dict)
    scope: str = "global"
    target: str = ""


@dataclass(frozen=True)
class Spend:
    tokens: int = 0
    cost: Decimal = Decimal("0")

    def __add__(self, other: Spend) -> Spend:
        return Spend(tokens=self.tokens + other.tokens, cost=self.cost + other.cost)


def _now() -> datetime:
    return timezone.now()  # the engine's clock (the demo seeder sets it back)


@dataclass(frozen=True)
class Facts:
    """Everything a policy may look at, for one enforcement point.

    ``counts`` are, per rate-limit policy slug, the calls already made for ``subject`` in that
    policy's window (this call excluded); ``spent`` is, per budget period (``PERIODS``), what
    was used so far (reservations of calls in flight included); ``estimate`` is what the call
    about to be made may use. ``steps``/``input`` are what conditions see, as in templates.
    """

    point: str
    flow: str = ""
    agent: str = ""
    provider: str = ""
    tool: str = ""
    category: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""
    input: Mapping[str, Any] = field(default_factory=dict)
    steps: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    confidence: float | None = None
    now: datetime = field(default_factory=_now)
    counts: Mapping[str, int] = field(default_factory=dict)
    spent: Mapping[str, Spend] = field(default_factory=dict)
    estimate: Spend = field(default_factory=Spend)
    step_count: int = 0
    loop_iteration: int = 0
    run_seconds: float = 0.0
    agent_turns: int = 0

    def summary(self) -> dict[str, Any]:
        """A small JSON-safe digest for verdict records and the audit log (no full texts)."""
        data: dict[str, Any] = {"point": self.point}
        for name in ("flow", "agent", "provider", "tool", "category", "subject"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.point == "tool_call":
            data["args"] = dict(self.args)
        if self.text and self.point == "output":
            # Outputs only: what leaves for a model may hold the personal data a PII policy
            # keeps from leaving, and it is on the step already.
            data["text_excerpt"] = self.text[:300]
        if self.confidence is not None:
            data["confidence"] = self.confidence
        data |= self._usage_summary()
        if self.point == "step":
            data |= {"steps": self.step_count, "loop_iteration": self.loop_iteration}
            data["run_seconds"] = round(self.run_seconds, 3)
        if self.agent_turns:
            data["agent_turns"] = self.agent_turns
        return data

    def _usage_summary(self) -> dict[str, Any]:
        """The non-empty ``counts``, ``spent`` and ``estimate`` of ``summary`` (costs as
        decimal strings)."""
        data: dict[str, Any] = {}
        if self.counts:
            data["counts"] = dict(self.counts)
        if self.spent:
            data["spent"] = {
                key: {"tokens": value.tokens, "cost": str(value.cost)}
                for key, value in self.spent.items()
            }
        if self.estimate.tokens or self.estimate.cost:
            data["estimate"] = {"tokens": self.estimate.tokens, "cost": str(self.estimate.cost)}
        return data


@dataclass(frozen=True)
class Decision:
    """One policy's answer. ``policy`` is its slug ("" for the default allow); ``detail`` says
    what triggered it (the matched rule, the numbers compared, the PII kinds found)."""

    verdict: str
    policy: str = ""
    kind: str = ""
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return VERDICTS.index(self.verdict)


ALLOW = Decision(verdict="allow", reason="no policy applies")
