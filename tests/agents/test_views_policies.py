"""The policy pages: list with filters, create/edit with inline errors, "Simulate before
saving" over recorded runs (nothing saved), enable/disable, delete, the simulator of a saved
policy, and roles on every view."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agents.models import AuditEvent, Policy
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from tests.support.flows import document, drive, node, save

pytestmark = pytest.mark.django_db


def client_for(role: Role | None) -> Client:
    client = Client()
    if role is None:
        client.force_login(get_user_model().objects.create_user(username="outsider"))
    else:
        client.force_login(user_ensure(username=role.value, role=role))
    return client


def form(**fields: Any) -> dict[str, Any]:
    data = {
        "slug": "big-bookings",
        "name": "Big bookings",
        "kind": "approval",
        "scope": "global",
        "target": "",
        "verdict": "require_approval",
        "reason": "large amounts need a second look",
        "config": json.dumps({"categories": ["write"], "when": "args.data.amount > 500"}),
        "action": "save",
    }
    data.update(fields)
    return data


def booking(key: str, amount: int) -> Any:
    doc = document(
        "pay",
        [
            node(
                "book",
                "tool",
                tool="upsert_record",
                args={"kind": "invoice", "key": "{{ input.key }}", "data": {"amount": amount}},
            )
        ],
        [],
        subject="{{ input.key }}",
    )
    run, _ = runs.run_start(flow=save(doc), input={"key": key})
    return drive(run)


def test_a_designer_creates_a_policy_disabled_then_enables_it() -> None:
    designer = client_for(Role.DESIGNER)
    page = designer.get("/policies/new/")
    assert page.status_code == 200
    assert b"Simulate before saving" in page.content
    assert b"rate_limit" in page.content  # the kinds explained beside the form
    created = designer.post("/policies/new/", form(scope="flow", target="pay"))
    assert created.status_code == 302, created.content.decode()[:2000]
    policy = Policy.objects.get()
    assert policy.enabled is False and policy.created_by is not None
    assert policy.config == {"categories": ["write"], "when": "args.data.amount > 500"}
    listed = designer.get("/policies/").content.decode()
    assert "Big bookings" in listed and "disabled" in listed
    assert designer.post("/policies/big-bookings/toggle/", {"enabled": "1"}).status_code == 302
    assert Policy.objects.get().enabled is True
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["policy.created", "policy.enabled"]


def test_errors_are_shown_inline_on_their_fields() -> None:
    designer = client_for(Role.DESIGNER)
    refused = designer.post(
        "/policies/new/",
        form(kind="rate_limit", verdict="redact", config=json.dumps({"max": 1, "window": "soon"})),
    )
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "at /window: a number and a unit" in html
    assert "a rate_limit policy&#x27;s verdict is one of" in html
    assert 'id="id_config_error"' in html and 'id="id_verdict_error"' in html
    bad_json = designer.post("/policies/new/", form(config="{not json"))
    assert bad_json.status_code == 422 and b"not valid JSON" in bad_json.content
    assert not Policy.objects.exists()


def test_simulate_before_saving_replays_recorded_runs_and_saves_nothing() -> None:
    small = booking("inv-1", 20)
    large = booking("inv-2", 900)
    designer = client_for(Role.DESIGNER)
    answer = designer.post("/policies/new/", form(action="simulate"))
    assert answer.status_code == 200
    html = answer.content.decode()
    assert not Policy.objects.exists()
    assert "Simulation: 2 runs replayed" in html
    assert f'data-run="{large.id}" data-verdict="require_approval"' in html
    assert f'data-run="{small.id}" data-verdict="allow"' in html
    assert f'href="/runs/{large.id}/"' in html
    assert "tool call upsert_record at book" in html
    # A period with no runs says what to do next.
    empty = designer.post(
        "/policies/new/",
        form(action="simulate", **{"sim-since": "2020-01-01", "sim-until": "2020-01-02"}),
    )
    assert b"No runs were created in this period" in empty.content
    backwards = designer.post(
        "/policies/new/",
        form(action="simulate", **{"sim-since": "2020-01-05", "sim-until": "2020-01-02"}),
    )
    assert b"The end is before the start." in backwards.content


def test_a_saved_policy_is_edited_simulated_and_deleted() -> None:
    booking("inv-9", 700)
    designer = client_for(Role.DESIGNER)
    pay = {"scope": "flow", "target": "pay"}  # a designer's policies are scoped (global: admin)
    assert designer.post("/policies/new/", form(enabled="on", **pay)).status_code == 302
    edit = designer.get("/policies/big-bookings/edit/")
    assert edit.status_code == 200 and b"args.data.amount &gt; 500" in edit.content
    changed = designer.post(
        "/policies/big-bookings/edit/",
        form(slug="ignored", name="Very big bookings", enabled="on", **pay),
    )
    assert changed.status_code == 302
    policy = Policy.objects.get()
    assert policy.slug == "big-bookings" and policy.name == "Very big bookings"
    viewer = client_for(Role.VIEWER)
    simulated = viewer.get("/policies/big-bookings/simulate/")
    assert simulated.status_code == 200
    assert b'data-verdict="require_approval"' in simulated.content
    assert designer.post("/policies/big-bookings/delete/").status_code == 302
    assert not Policy.objects.exists()


def test_the_list_filters_and_roles_are_checked() -> None:
    for index, kind in enumerate(["content", "limits", "content"]):
        config = {"phrases": ["x"]} if kind == "content" else {"max_steps": 10}
        Policy.objects.create(
            slug=f"p-{index}", name=f"P {index}", kind=kind, verdict="block", config=config,
            enabled=index != 2,
        )  # fmt: skip
    viewer = client_for(Role.VIEWER)
    listed = viewer.get("/policies/?kind=content&status=enabled").content.decode()
    assert 'data-policy="p-0"' in listed
    assert 'data-policy="p-1"' not in listed and 'data-policy="p-2"' not in listed
    assert "New policy" not in listed
    assert b"No policy matches these filters" in viewer.get("/policies/?q=zzz").content
    assert viewer.get("/policies/new/").status_code == 403
    assert viewer.post("/policies/p-0/toggle/", {"enabled": "0"}).status_code == 403
    assert viewer.post("/policies/p-0/delete/").status_code == 403
    assert client_for(None).get("/policies/").status_code == 403
    assert Client().get("/policies/").status_code == 302  # to the login page
    assert Policy.objects.count() == 3 and Policy.objects.get(slug="p-0").enabled


def test_a_policy_page_shows_it_read_only_to_every_role_that_may_view() -> None:
    Policy.objects.create(
        slug="one-a-day", name="One a day", kind="rate_limit", scope="flow", target="leads",
        verdict="block", reason="one message per contact a day",
        config={"categories": ["outbound_message"], "max": 1, "window": "24h"},
    )  # fmt: skip
    viewer = client_for(Role.VIEWER)
    page = viewer.get("/policies/one-a-day/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "One a day" in html and "one message per contact a day" in html
    assert "&quot;window&quot;: &quot;24h&quot;" in html and "leads" in html
    assert 'href="/policies/one-a-day/simulate/"' in html
    assert 'href="/policies/one-a-day/edit/"' not in html  # viewers do not edit
    assert 'href="/policies/one-a-day/"' in viewer.get("/policies/").content.decode()
    designer_page = client_for(Role.DESIGNER).get("/policies/one-a-day/").content.decode()
    assert 'href="/policies/one-a-day/edit/"' in designer_page
    assert viewer.get("/policies/nope/").status_code == 404
    assert client_for(None).get("/policies/one-a-day/").status_code == 403
