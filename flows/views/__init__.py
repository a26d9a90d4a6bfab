"""The flows app's HTML views: flows and runs (``runs``), the home page (``home``). The approvals
inbox and the kill switch have their own (``flows.approvals.views``, ``flows.killswitch.views``)."""

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
    "flow_detail",
    "flow_list",
    "flow_run_start",
    "run_cancel",
    "run_detail",
    "run_list",
    "run_retry",
    "step_detail",
]
