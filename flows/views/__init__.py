"""The flows app's HTML views: flows and runs (``runs``), the approvals inbox (``inbox``)."""

from flows.views.inbox import (
    approval_autonomy,
    approval_bulk,
    approval_decide,
    approval_detail,
    approval_diff,
    approval_insights,
    approval_list,
    approval_reassign,
    approval_seen,
)
from flows.views.runs import (
    flow_detail,
    flow_list,
    flow_run_start,
    run_cancel,
    run_detail,
    run_list,
    run_retry,
    step_detail,
)

__all__ = [
    "approval_autonomy",
    "approval_bulk",
    "approval_decide",
    "approval_detail",
    "approval_diff",
    "approval_insights",
    "approval_list",
    "approval_reassign",
    "approval_seen",
    "flow_detail",
    "flow_list",
    "flow_run_start",
    "run_cancel",
    "run_detail",
    "run_list",
    "run_retry",
    "step_detail",
]
