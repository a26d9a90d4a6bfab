"""Every trigger type configured in the flow editor, against the real stack (uvicorn + Channels +
Redis, a Celery worker and beat, Chromium): a schedule with the server's preview of the next runs
in its zone and the viewer's; a webhook whose rotated secret signs a copied curl command that
really starts a run; the public form link; an event watching another flow."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from agents.models import AuditEvent
from controlroom.roles import Role
from flows.models import Flow, FlowVersion, Run, WebhookSecret
from flows.triggers import webhooks
from flows.versions import flow_save, flow_version_publish
from tests.e2e.test_editor import (
    AXE_RUN,
    ROOT,
    STARTER,
    expect_no_problems,
    log_in,
    shoot,
    write_then_end,
)
from tests.support.browser import axe_inject
from tests.support.stack import AsgiServer, ManagedProcess

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

NEW_YORK = ZoneInfo("America/New_York")
VIEWER_ZONE = "Asia/Tokyo"


@pytest.fixture
def stack(
    asgi_server: AsgiServer, celery_worker: ManagedProcess, celery_beat: ManagedProcess
) -> AsgiServer:
    """The stack of tests/e2e/test_editor.py (importing that fixture by name trips ruff F811)."""
    assert (ROOT / "static" / "editor" / "editor.js").exists(), "run `make assets` first"
    return asgi_server


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A viewer in Tokyo reading 24-hour times, so the preview's two zones differ visibly."""
    return {**browser_context_args, "timezone_id": VIEWER_ZONE, "locale": "en-GB"}


def _flow(slug: str = "press-note", *, live: bool = False, **fields: Any) -> Flow:
    document = {**json.loads(json.dumps(STARTER)), "slug": slug, **write_then_end("Note")}
    flow, version = flow_save(document={**document, **fields})
    if live:
        flow_version_publish(flow=flow, version=version)
    return flow


def _open_trigger(
    page: Page, base: str, flow: Flow, kind: str | None = None, *, as_viewer: bool = False
) -> None:
    log_in(page, base, *(("vic", Role.VIEWER) if as_viewer else ("dee", Role.DESIGNER)))
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{base}/flows/{flow.slug}/edit/")
    page.get_by_text("Trigger, feedback and ROI").click()
    if kind:
        page.get_by_label("Trigger: how runs start").select_option(kind)


def _latest(flow: Flow) -> dict[str, Any]:
    version = FlowVersion.objects.filter(flow=flow).order_by("-number").first()
    assert version is not None
    return dict(version.document)


def _save(page: Page, number: int) -> None:
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text(f"Saved as version {number}.")


def _sh(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command copied from the page the way a person pastes it into a POSIX shell."""
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env=env, timeout=30
    )


def field_problem(page: Page, field_id: str) -> Any:
    return page.locator(f'[data-trigger-field="{field_id}"] .field-problem')


def test_a_schedule_previews_its_next_runs_in_its_zone_and_the_viewers(
    page: Page, stack: AsgiServer
) -> None:
    flow = _flow()
    _open_trigger(page, stack.url, flow, "schedule")
    expect(page.locator("#trigger-problem")).to_have_text(
        "a schedule trigger needs a cron expression"
    )

    # A bad expression: the validator pins it to the field, the preview says why.
    page.get_by_label("Cron expression").fill("61 9 * * 1-5")
    expect(field_problem(page, "trigger-cron")).to_have_text(
        "not a 5-field cron expression: '61 9 * * 1-5'"
    )
    expect(page.locator('[data-preview="error"]')).to_contain_text("not a 5-field cron")
    expect(page.get_by_label("Cron expression")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Cron expression").fill("0 9 * * 1-5")
    page.get_by_label("Time zone").select_option("America/New_York")
    preview = page.locator(
        'section[aria-label="Next runs"][data-cron="0 9 * * 1-5"][data-zone="America/New_York"]'
    )
    expect(preview).to_contain_text("At 09:00, Monday through Friday (America/New_York time)")
    rows = preview.locator("tr[data-at]")
    expect(rows).to_have_count(5)
    times = [
        datetime.fromisoformat(t) for t in rows.evaluate_all("rs => rs.map(r => r.dataset.at)")
    ]
    now = datetime.now(UTC)
    assert now < times[0] <= now + timedelta(days=4)
    for moment in times:
        local = moment.astimezone(NEW_YORK)
        assert (local.hour, local.minute, local.weekday() < 5) == (9, 0, True)
        assert moment.utcoffset() == local.utcoffset()  # the offset of New York that day
    assert len({t.date() for t in times}) == 5 and times == sorted(times)
    # Each row in New York's time and in the viewer's (Tokyo: 22:00 or 23:00 the same day).
    first = rows.first.locator("td")
    expect(first.nth(0)).to_contain_text("09:00")
    tokyo = times[0].astimezone(ZoneInfo(VIEWER_ZONE)).strftime("%H:%M")
    expect(first.nth(1)).to_contain_text(tokyo)
    expect(preview.locator("th").nth(1)).to_have_text(f"Your time ({VIEWER_ZONE})")

    page.get_by_label("Missed runs").select_option("catch_up_once")
    expect(page.locator("#trigger-missed-help")).to_contain_text("one run starts for all")
    page.get_by_label("Run input (JSON)").fill('{"topic": "the morning"}')
    expect_no_problems(page)
    preview.scroll_into_view_if_needed()
    shoot(page, "triggers-1-schedule")
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []

    _save(page, 2)
    assert _latest(flow)["trigger"] == {
        "type": "schedule",
        "cron": "0 9 * * 1-5",
        "timezone": "America/New_York",
        "missed": "catch_up_once",
        "input": {"topic": "the morning"},
    }


def test_a_rotated_webhook_secret_signs_a_copied_curl_command_that_starts_a_run(
    page: Page, stack: AsgiServer
) -> None:
    flow = _flow(live=True)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _open_trigger(page, stack.url, flow, "webhook")
    url = f"{stack.url}/api/hooks/flows/{flow.slug}"
    expect(page.get_by_label("Webhook URL")).to_have_value(url)
    note = page.locator("#trigger-webhook-url-help")
    expect(note).to_contain_text("starts runs by manual: the URL answers 404")

    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".editor-status")).to_have_text("Version 2 is live.")
    expect(note).to_contain_text("starts a run of the live version (v2)")
    expect(page.locator('[data-secrets="none"]')).to_be_visible()

    page.get_by_role("button", name="Issue a secret").click()
    expect(page.locator('[data-shown-secret="1"]')).to_contain_text("There was no earlier secret.")
    page.get_by_label("Older secrets stay valid for").select_option("3600")
    page.get_by_role("button", name="Rotate secret").click()
    shown = page.locator('[data-shown-secret="2"]')
    expect(shown).to_contain_text("shown once")
    expect(shown).to_contain_text("Older secrets stay valid until")
    secret = page.locator("#trigger-secret-value").input_value()
    assert secret.startswith("whsec_")
    expect(page.locator("li[data-secret]")).to_have_count(2)
    expect(page.locator('li[data-secret="1"]')).to_contain_text("valid until")

    # The sample input is the body; the command signs it with the new secret when it runs.
    page.get_by_label("Sample input (JSON)").fill('{"topic": "it\'s signed"}')
    curl = page.get_by_label("Send a test request (signed curl command)")
    expect(curl).to_have_value(re.compile(re.escape("""BODY='{"topic":"it'\\''s signed"}'""")))
    command = curl.input_value()
    assert f"SECRET='{secret}'" in command and url in command
    page.get_by_role("button", name="Copy curl command").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == command
    shoot(page, "triggers-2b-curl")
    page.get_by_label("Webhook URL").scroll_into_view_if_needed()
    shoot(page, "triggers-2a-webhook")

    sent = _sh(command)
    assert sent.returncode == 0, sent.stderr
    answer, status = sent.stdout.strip().rsplit("\n", 1)
    assert status == "HTTP 202", sent.stdout
    run = Run.objects.get(id=json.loads(answer)["run_id"])
    assert run.flow_id == flow.id and run.input == {"topic": "it's signed"}
    assert run.version.number == 2

    # A secret still accepted can be revealed again; the reveal is audited.
    page.get_by_role("button", name="Reveal secret 1").click()
    expect(page.locator('[data-shown-secret="1"][data-how="revealed"]')).to_contain_text(
        "recorded in the audit log"
    )
    assert AuditEvent.objects.filter(action="webhook_secret.revealed", actor="dee").count() == 1
    assert WebhookSecret.objects.filter(flow=flow).count() == 2
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []


def test_a_viewer_sees_the_webhook_and_a_command_that_reads_the_secret_from_the_env(
    page: Page, stack: AsgiServer
) -> None:
    flow = _flow(live=True, trigger={"type": "webhook"})
    secret = webhooks.webhook_secret_issue(flow=flow).value
    _open_trigger(page, stack.url, flow, as_viewer=True)
    expect(page.get_by_label("Webhook URL")).to_have_value(
        f"{stack.url}/api/hooks/flows/{flow.slug}"
    )
    expect(page.locator('li[data-secret="1"]')).to_contain_text("valid, no expiry")
    expect(page.get_by_role("button", name="Rotate secret")).to_have_count(0)
    expect(page.get_by_role("button", name="Reveal secret 1")).to_have_count(0)
    curl = page.get_by_label("Send a test request (signed curl command)")
    expect(curl).to_have_value(re.compile(r"CONTROLROOM_WEBHOOK_SECRET"))
    command = curl.input_value()
    assert "whsec_" not in command

    unset = {k: v for k, v in os.environ.items() if k != "CONTROLROOM_WEBHOOK_SECRET"}
    refused = _sh(command, env=unset)
    assert refused.returncode != 0 and "set CONTROLROOM_WEBHOOK_SECRET" in refused.stderr
    env = {**unset, "CONTROLROOM_WEBHOOK_SECRET": secret}
    sent = _sh(command, env=env)
    assert sent.stdout.strip().endswith("HTTP 202"), (sent.stdout, sent.stderr)
    assert Run.objects.filter(flow=flow, input={"topic": "editor"}).count() == 1


def test_the_public_form_link_opens_the_form(page: Page, stack: AsgiServer) -> None:
    schema = {"type": "object", "properties": {"topic": {"type": "string", "title": "Topic"}}}
    flow = _flow(live=True, trigger={"type": "form"}, input_schema=schema)
    _open_trigger(page, stack.url, flow)
    expect(page.get_by_label("Trigger: how runs start")).to_have_value("form")
    expect(page.get_by_label("Public form link")).to_have_value(f"{stack.url}/forms/{flow.slug}/")
    expect(page.locator("#trigger-form-help")).to_contain_text("run of the live version (v1)")
    with page.expect_popup() as opened:
        page.get_by_role("link", name="Open the public form").click()
    form = opened.value
    expect(form).to_have_url(f"{stack.url}/forms/{flow.slug}/")
    expect(form.get_by_label("Topic")).to_be_visible()


def test_an_event_trigger_watches_a_chosen_flow(page: Page, stack: AsgiServer) -> None:
    _flow("invoices", name="Invoices")
    flow = _flow()
    _open_trigger(page, stack.url, flow, "event")
    expect(page.locator("#trigger-problem")).to_contain_text("an event trigger needs on:")
    page.get_by_label("Starts when").select_option("run.finished")
    expect(field_problem(page, "trigger-flow")).to_have_text(
        "run.finished needs the flow whose runs to watch"
    )
    watched = page.get_by_label("Flow to watch")
    expect(watched.locator("option")).to_have_text(["— choose a flow —", "Invoices (invoices)"])
    watched.select_option("invoices")
    expect(page.get_by_label("succeeded")).to_be_checked()
    expect(page.get_by_label("succeeded")).to_be_disabled()  # the last one ticked stays ticked
    page.get_by_label("failed").check()
    expect_no_problems(page)
    _save(page, 2)
    assert _latest(flow)["trigger"] == {
        "type": "event",
        "on": "run.finished",
        "flow": "invoices",
        "status": ["succeeded", "failed"],
    }

    page.get_by_label("Starts when").select_option("outcome.recorded")
    expect(field_problem(page, "trigger-metric")).to_have_text(
        "outcome.recorded needs the metric to watch"
    )
    page.get_by_label("Metric to watch").fill("invoice_paid")
    page.get_by_label("Threshold (optional)").fill("1000")
    expect_no_problems(page)
    _save(page, 3)
    assert _latest(flow)["trigger"] == {  # the watched run's fields went with run.finished
        "type": "event",
        "on": "outcome.recorded",
        "metric": "invoice_paid",
        "threshold": 1000,
    }
