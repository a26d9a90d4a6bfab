"""Template contexts of the approvals inbox, the approval detail and the run page's approval
cards — one builder per partial, shared by the views (``flows.approvals.views``, the run page)
and the live fragments (``flows.approvals.live``, ``flows.live``), so a pushed fragment is
exactly what a reload would show.

Reads only (``flows.approvals.selectors``); the one write a page causes — noting the first time
an approver opened an approval — is the view's call to ``decisions.approval_open``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from controlroom.roles import Capability, can
from flows import pages
from flows.approvals import autonomy, edits
from flows.approvals import selectors as inbox_selectors
from flows.approvals.access import DECIDING_ROLES, deciders, may_decide
from flows.approvals.selectors import InboxFilters
from flows.engine.nodes.approval import autonomy_rule, max_send_backs
from flows.graph import for_version
from flows.models import Approval, Flow, Run
from flows.states import ApprovalStatus

INBOX_LIMIT = 200
#: A deadline closer than this is shown as urgent.
URGENT = timedelta(hours=1)
ROLLUP_DAYS = 30

RESOLUTION_LABELS = {
    "approved": "Approved",
    "edited": "Edited and approved",
    "rejected": "Rejected",
    "sent_back": "Sent back",
    "auto_approved": "Approved at the deadline",
    "auto_rejected": "Rejected at the deadline",
    "auto_passed": "Passed without review (earned autonomy)",
    "cancelled": "Cancelled",
}
#: What a status line adds to "Approved by …" / "Rejected by …".
RESOLUTION_NOTES = {
    "edited": "edited first",
    "sent_back": "sent back with notes for a new draft",
    "auto_approved": "at the deadline",
    "auto_rejected": "at the deadline",
    "auto_passed": "earned autonomy: not sampled for review",
}
ON_DEADLINE_LABELS = {
    "reject": "rejected automatically",
    "approve": "approved automatically",
    "escalate": "escalated",
}


def inbox_url(filters: InboxFilters | None = None, approval_id: int | None = None) -> str:
    path = (
        reverse("approval_detail", kwargs={"approval_id": approval_id})
        if approval_id
        else reverse("approval_list")
    )
    params = filters.as_params() if filters else {}
    return f"{path}?{urlencode(params)}" if params else path


def due_label(approval: Approval) -> tuple[str, str]:
    """``(words, tone)`` for a deadline: "in 14 min" / "overdue"; tone "urgent", "soon", ""."""
    if approval.deadline_at is None:
        return "", ""
    left = approval.deadline_at - timezone.now()
    if left.total_seconds() <= 0:
        return "overdue", "urgent"
    minutes = int(left.total_seconds() // 60)
    if minutes < 60:
        words = f"in {max(minutes, 1)} min"
    elif minutes < 48 * 60:
        words = f"in {minutes // 60} h {minutes % 60:02d} min"
    else:
        words = f"in {minutes // (24 * 60)} days"
    return words, "urgent" if left <= URGENT else ("soon" if left <= URGENT * 4 else "")


def assignee_label(approval: Approval) -> str:
    if approval.assignee_user is not None:
        return approval.assignee_user.get_username()
    return f"any {approval.assignee_role}"


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    approval: Approval
    url: str
    due: str
    due_tone: str
    assignee: str
    may_decide: bool


def inbox_row(approval: Approval, *, user: Any, filters: InboxFilters) -> InboxRow:
    due, tone = due_label(approval)
    return InboxRow(
        approval=approval,
        url=inbox_url(filters, approval.id),
        due=due,
        due_tone=tone,
        assignee=assignee_label(approval),
        may_decide=may_decide(user, approval),
    )


def inbox_row_context(approval: Approval, *, user: Any, filters: InboxFilters) -> dict[str, Any]:
    return {"row": inbox_row(approval, user=user, filters=filters), "filters": filters}


def inbox_rows_context(
    *, user: Any, filters: InboxFilters, open_id: int | None = None
) -> dict[str, Any]:
    approvals_shown = list(inbox_selectors.inbox_list(user=user, filters=filters)[:INBOX_LIMIT])
    return {
        "rows": [inbox_row(a, user=user, filters=filters) for a in approvals_shown],
        "filters": filters,
        "open_id": open_id,
        "can_decide": can(user, Capability.DECIDE),
        "more": len(approvals_shown) == INBOX_LIMIT,
    }


def inbox_page_context(
    *, user: Any, filters: InboxFilters, open_approval: Approval | None
) -> dict[str, Any]:
    rows = inbox_rows_context(
        user=user, filters=filters, open_id=open_approval.id if open_approval else None
    )
    context: dict[str, Any] = {
        **rows,
        "options": inbox_selectors.inbox_filter_options(),
        "ages": [(key, label) for key, (label, _) in inbox_selectors.AGES.items()],
        "dues": [(key, label) for key, (label, _) in inbox_selectors.DUES.items()],
    }
    if open_approval is None and rows["rows"]:
        open_approval = rows["rows"][0].approval
    context["detail"] = (
        approval_detail(open_approval, user=user, filters=filters) if open_approval else None
    )
    return context


# --- the detail --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """Everything the detail pane shows about one approval."""

    approval: Approval
    filters: InboxFilters
    may_decide: bool
    pending: bool
    draft_text: str
    draft_is_text: bool
    tool_call: bool
    arguments: list[tuple[str, str]]
    fields: list[edits.ArgumentField] | None
    send_back_to: str
    send_backs_left: int
    due: str
    due_tone: str
    assignee: str
    on_deadline: str
    resolution_note: str
    status_label: str
    people: list[str]
    roles: list[str]

    @property
    def url(self) -> str:
        return inbox_url(self.filters, self.approval.id)

    @property
    def status_url(self) -> str:
        url = self.url
        return f"{url}{'&' if '?' in url else '?'}part=status"


def approval_detail(approval: Approval, *, user: Any, filters: InboxFilters) -> Detail:
    pending = approval.status == ApprovalStatus.PENDING
    decide = pending and may_decide(user, approval)
    config: dict[str, Any] = {}
    if approval.step.node_type == "approval":
        graph = for_version(approval.run.version_id, approval.run.version.document)
        config = graph.config(approval.step.node_id)
    tool_call = edits.is_tool_call(approval.draft)
    limit = max_send_backs(config)
    due, tone = due_label(approval)
    on_deadline = ""
    if approval.deadline_at is not None:
        on_deadline = ON_DEADLINE_LABELS.get(approval.on_deadline or "reject", "")
        if approval.on_deadline == "escalate" and not approval.escalated_at:
            on_deadline = f"escalated to {approval.escalate_to}"
        elif approval.on_deadline == "escalate":
            on_deadline = "rejected automatically (already escalated)"
    return Detail(
        approval=approval,
        filters=filters,
        may_decide=decide,
        pending=pending,
        draft_text=edits.as_text(approval.draft),
        draft_is_text=isinstance(approval.draft, str) or approval.draft is None,
        tool_call=tool_call,
        arguments=[
            (str(name), edits.as_text(value))
            for name, value in (approval.draft or {}).get("arguments", {}).items()
        ]
        if tool_call
        else [],
        fields=edits.argument_fields(approval.draft) if tool_call and decide else None,
        send_back_to=str(config.get("send_back_to") or ""),
        send_backs_left=max(0, limit - approval.round),
        due=due,
        due_tone=tone,
        assignee=assignee_label(approval),
        on_deadline=on_deadline,
        resolution_note=RESOLUTION_NOTES.get(approval.resolution, ""),
        status_label=pages.state_label(approval.status),
        people=[u.get_username() for u in deciders().order_by("username")[:200]] if decide else [],
        roles=DECIDING_ROLES if decide else [],
    )


def detail_context(
    approval: Approval,
    *,
    user: Any,
    filters: InboxFilters,
    error: str = "",
    notice: str = "",
    full: bool = True,
) -> dict[str, Any]:
    """The detail pane; ``full`` adds the run so far, memory and history (the side column)."""
    context: dict[str, Any] = {
        "detail": approval_detail(approval, user=user, filters=filters),
        "decision_error": error,
        "decision_notice": notice,
        "filters": filters,
        "can_decide": can(user, Capability.DECIDE),
    }
    if full:
        context.update(
            prior_steps=[
                {
                    "step": step,
                    "scope": pages.scope_label(step.scope),
                    "text": pages.pretty(step.output),
                }
                for step in inbox_selectors.run_so_far(approval)
            ],
            run_input=pages.pretty(approval.run.input),
            memory=inbox_selectors.subject_memory(approval),
            history=[history_line(event) for event in inbox_selectors.approval_history(approval)],
        )
    return context


def empty_detail_context(*, filters: InboxFilters, notice: str = "") -> dict[str, Any]:
    return {"detail": None, "filters": filters, "decision_notice": notice}


HISTORY_WORDS = {
    "approval.created": "asked for a decision",
    "approval.opened": "first opened by {by}",
    "approval.reassigned": "reassigned by {by} to {to}",
    "approval.escalated": "escalated to {to}",
    "approval.reminded": "reminder sent",
}


def history_line(event: Any) -> dict[str, Any]:
    data = event.data or {}
    to = data.get("to") or {}
    target = to.get("user") or to.get("role") or "" if isinstance(to, dict) else ""
    if event.kind == "approval.decided":
        what = RESOLUTION_LABELS.get(data.get("resolution", ""), event.to_status.capitalize())
        text = f"{what} by {data.get('by') or 'the system'}"
        if data.get("edited"):
            text += f" ({data.get('edit_distance', 0)} characters changed)"
    else:
        text = HISTORY_WORDS.get(event.kind, event.kind).format(by=data.get("by"), to=target)
    note = data.get("reason") or data.get("note") or ""
    return {"at": event.at, "text": text, "note": note, "diff": data.get("diff", "")}


def diff_context(approval: Approval, output: Any) -> dict[str, Any]:
    changed = output is not None and output != approval.draft
    return {
        "approval": approval,
        "changed": changed,
        "lines": edits.diff_lines(approval.draft, output) if changed else [],
        "distance": edits.edit_distance(approval.draft, output) if changed else 0,
    }


# --- the run page's cards and the badge ----------------------------------------------------------


@dataclass(frozen=True)
class ApprovalCard:
    """An approval on the run page. ``edited_text`` is what was approved when the approver
    edited the draft first (``decision_output``), "" otherwise: the card shows it as the
    approved version and keeps ``draft_text`` (the agent's) one click away."""

    approval: Approval
    may_decide: bool
    draft_text: str
    draft_is_text: bool
    status_label: str
    resolution_note: str
    inbox_url: str
    edited_text: str = ""


def approval_card(approval: Approval, *, user: Any) -> ApprovalCard:
    pending = approval.status == ApprovalStatus.PENDING
    return ApprovalCard(
        approval=approval,
        may_decide=pending and may_decide(user, approval),
        draft_text=pages.pretty(approval.draft),
        draft_is_text=isinstance(approval.draft, str) or approval.draft is None,
        status_label=pages.state_label(approval.status),
        resolution_note=RESOLUTION_NOTES.get(approval.resolution, ""),
        inbox_url=inbox_url(None, approval.id),
        edited_text=pages.pretty(approval.decision_output)
        if approval.resolution == "edited"
        else "",
    )


def run_approvals_context(run: Run, *, user: Any) -> dict[str, Any]:
    found = inbox_selectors.approval_base().filter(run_id=run.id).order_by("created_at", "id")
    return {"run": run, "approval_cards": [approval_card(a, user=user) for a in found]}


def approval_card_context(approval: Approval, *, user: Any, error: str = "") -> dict[str, Any]:
    return {"card": approval_card(approval, user=user), "decision_error": error}


def badge_context(*, user: Any) -> dict[str, Any]:
    return {"pending_approvals": inbox_selectors.inbox_count(user=user)}


# --- quality and earned autonomy ---------------------------------------------------------------


def rollups_context(*, flow_id: int | None = None) -> dict[str, Any]:
    since = timezone.now() - timedelta(days=ROLLUP_DAYS)
    return {
        "rollup_days": ROLLUP_DAYS,
        "by_agent": inbox_selectors.approval_rollups(by="agent", since=since, flow_id=flow_id),
        "by_flow": inbox_selectors.approval_rollups(by="flow", since=since, flow_id=flow_id)
        if flow_id is None
        else [],
    }


@dataclass(frozen=True)
class AutonomyPanel:
    node_id: str
    name: str
    evidence: autonomy.Evidence
    enabled: bool
    sample_one_in: int
    disabled_reason: str
    changed_by: str
    rollup: inbox_selectors.Rollup | None


def autonomy_context(flow: Flow, *, user: Any, error: str = "") -> dict[str, Any]:
    """The flow page's approval nodes: their decisions, the earned-autonomy rule, its
    evidence and whether sampling is on."""
    panels = []
    since = timezone.now() - timedelta(days=ROLLUP_DAYS)
    for node_id, name, config in inbox_selectors.approval_nodes(flow):
        evidence = autonomy.autonomy_evidence(flow_id=flow.id, node_id=node_id, config=config)
        rule = autonomy.autonomy_get(flow_id=flow.id, node_id=node_id)
        rollups = inbox_selectors.approval_rollups(
            by="flow", since=since, flow_id=flow.id, node_id=node_id
        )
        panels.append(
            AutonomyPanel(
                node_id=node_id,
                name=name,
                evidence=evidence,
                enabled=bool(rule and rule.enabled),
                sample_one_in=rule.sample_one_in
                if rule and rule.enabled
                else int(autonomy_rule(config)["sample_one_in"]),
                disabled_reason=rule.disabled_reason if rule and not rule.enabled else "",
                changed_by=rule.changed_by.get_username() if rule and rule.changed_by else "",
                rollup=rollups[0] if rollups else None,
            )
        )
    return {
        "flow": flow,
        "autonomy_panels": panels,
        "can_design": can(user, Capability.DESIGN),
        "autonomy_error": error,
        "rollup_days": ROLLUP_DAYS,
    }
