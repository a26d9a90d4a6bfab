"""A newcomer's first hour, end to end, as they would click it: from the templates gallery to an
e-mail in a mailbox. Real uvicorn, a real Celery worker configured with
``CONTROLROOM_EMAIL_URL`` pointing at an SMTP server on loopback, and Chromium.

Pick a template, give the flow a subject, switch its trigger to a schedule and type a cron, add a
``send_email`` node and fill its arguments through the form generated from the tool's schema,
publish, run, approve the draft with an edit in the inbox — and the mail server receives the
edited text exactly once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from controlroom.roles import Role
from flows.models import Approval, Flow, Run
from tests.e2e.test_editor import (
    canvas_node,
    connect,
    drag_from_palette,
    expect_no_problems,
    log_in,
    shoot,
)
from tests.support import stack
from tests.support.smtp import SmtpSink
from tests.support.wait import stays, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MAILBOX = "ap@acme.example"
EDIT = "Checked against the purchase orders by Nina."


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def test_from_a_template_to_an_approved_email_delivered_exactly_once(
    page: Page,
    smtp: SmtpSink,
    own_asgi_server: stack.AsgiServer,
    celery_worker_factory: Callable[..., stack.ManagedProcess],
) -> None:
    celery_worker_factory(env_overrides={"CONTROLROOM_EMAIL_URL": smtp.url})
    base = own_asgi_server.url
    log_in(page, base, "nina", Role.ADMIN)  # their own install: the admin does it all
    page.set_viewport_size({"width": 1440, "height": 1000})

    # 1. A template, one click from /flows/new/.
    page.goto(f"{base}/flows/new/")
    page.locator('[data-template="invoice-reconciliation"]').get_by_role(
        "button", name="Use this template"
    ).click()
    expect(page.locator(".react-flow__node")).to_have_count(7)
    expect_no_problems(page)

    # 2. The subject, and a schedule trigger with a cron and its next runs.
    page.get_by_text("Trigger, feedback and ROI").click()
    page.get_by_label(re.compile(r"^Subject")).fill("{{ input.vendor }} {{ input.invoice_id }}")
    page.get_by_label("Trigger: how runs start").select_option("schedule")
    page.get_by_label("Cron expression").fill("0 9 * * 1-5")
    expect(page.locator('section[aria-label="Next runs"][data-cron="0 9 * * 1-5"]')).to_be_visible()

    # 3. A send_email node after the finance approval, its arguments through the form.
    drag_from_palette(page, "tool", 700, 520)
    expect(canvas_node(page, "tool_1")).to_be_visible()
    connect(page, "finance", "tool_1")
    canvas_node(page, "tool_1").click()
    page.get_by_label("Tool", exact=True).fill("send_email")
    form = page.locator(".node-panel fieldset.tool-args")
    expect(form).to_have_attribute("data-tool-args", "send_email")
    form.get_by_label("To", exact=True).fill(MAILBOX)
    form.get_by_label("Subject", exact=True).fill("Invoice {{ input.invoice_id }} booked")
    form.get_by_label("Body", exact=True).fill("{{ steps.finance.output.output }}")
    expect_no_problems(page)
    shoot(page, "journey-1-editor")

    # 4. Publish, then run it.
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".editor-status")).to_have_text(re.compile(r"Version 1 is live\."))
    flow = Flow.objects.get(slug="invoice-reconciliation")
    live = flow.live_version.document
    assert live["subject"] == "{{ input.vendor }} {{ input.invoice_id }}"
    assert (live["trigger"]["type"], live["trigger"]["cron"]) == ("schedule", "0 9 * * 1-5")
    page.get_by_role("button", name="Run draft").click()
    approval = wait_for(
        lambda: Approval.objects.filter(run__flow=flow, status="pending").first(),
        timeout=60,
        message="the run to reach the finance approval",
    )
    run = Run.objects.get(id=approval.run_id)
    assert run.subject == "Acme Components INV-2026-0192"

    # 5. Approve with an edit, in the inbox.
    page.goto(f"{base}/approvals/")
    # A click on the row (open already: the inbox opens its first item) must not reload the
    # pane under the edit that follows at once.
    page.locator(f"#inbox-row-{approval.id} [data-row-link]").click()
    expect(page.locator("#detail-title")).to_have_text("Book invoice INV-2026-0192?")
    page.keyboard.press("e")
    editor = page.get_by_label("Edited text")
    expect(editor).to_be_focused()
    editor.press("End")
    editor.type(f"\n{EDIT}")
    shoot(page, "journey-1b-edit")
    expect(page.locator(f"#approval-{approval.id}-diff ins")).to_contain_text(EDIT)
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    expect(page.locator("#inbox-detail")).to_contain_text("Approved: Book invoice INV-2026-0192?")
    shoot(page, "journey-2-approved")

    # 6. The mail server receives the approved, edited text: once, and only once.
    wait_for(
        lambda: smtp.per_recipient() == {MAILBOX: 1},
        timeout=60,
        message=f"one e-mail to {MAILBOX} (got {smtp.received()})",
    )
    mail = smtp.received()[0]
    assert mail["subject"] == "Invoice INV-2026-0192 booked"
    assert EDIT in mail["body"]
    wait_for(lambda: Run.objects.get(id=run.id).status == "succeeded", timeout=60)
    stays(lambda: smtp.per_recipient() == {MAILBOX: 1}, seconds=3, message="no second e-mail")
