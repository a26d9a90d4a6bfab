"""Approvals: the human decisions that resume parked runs, and the inbox around them.

Modules: ``access`` (who may decide), ``decisions`` (decide, send back, reassign, open, bulk),
``edits`` (diffs, edit distance, tool-call forms), ``deadlines`` (reminders, escalation,
auto-decisions), ``notices`` (e-mail and chat webhook), ``autonomy`` (earned autonomy) and
``selectors`` (reads for the inbox, the API and the rollups).
"""

from flows.approvals.access import may_decide
from flows.approvals.decisions import (
    ApprovalError,
    BulkResult,
    Decision,
    approval_bulk_approve,
    approval_decide,
    approval_open,
    approval_reassign,
)

__all__ = [
    "ApprovalError",
    "BulkResult",
    "Decision",
    "approval_bulk_approve",
    "approval_decide",
    "approval_open",
    "approval_reassign",
    "may_decide",
]
