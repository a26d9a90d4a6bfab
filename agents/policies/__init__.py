"""Guardrail policies as pure functions: ``evaluate(policies, facts) -> [Decision]`` and
``strictest(decisions) -> Decision``, config validation (``config_errors``), and the PII
redaction they ask for (``pii_redact`` / ``pii_restore``, ``pii_mask`` for stored copies).

``agents`` stores and evaluates policies; ``flows`` gathers the facts and acts on the verdict
(DESIGN.md, "Contracts between issues").
"""

from agents.policies.config import (
    SCHEMAS,
    VERDICTS_BY_KIND,
    config_errors,
    verdict_errors,
    window_seconds,
)
from agents.policies.evaluate import applies, decide, evaluate, strictest, triggered
from agents.policies.facts import (
    ALLOW,
    KINDS,
    PERIODS,
    POINTS,
    SCOPES,
    VERDICTS,
    Decision,
    Facts,
    PolicyLike,
    PolicySpec,
    Spend,
)
from agents.policies.kinds import POINTS_BY_KIND, window_of
from agents.policies.pii import pii_find, pii_mask, pii_redact, pii_restore

__all__ = [
    "ALLOW",
    "KINDS",
    "PERIODS",
    "POINTS",
    "POINTS_BY_KIND",
    "SCHEMAS",
    "SCOPES",
    "VERDICTS",
    "VERDICTS_BY_KIND",
    "Decision",
    "Facts",
    "PolicyLike",
    "PolicySpec",
    "Spend",
    "applies",
    "config_errors",
    "decide",
    "evaluate",
    "pii_find",
    "pii_mask",
    "pii_redact",
    "pii_restore",
    "strictest",
    "triggered",
    "verdict_errors",
    "window_of",
    "window_seconds",
]
