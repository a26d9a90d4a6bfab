"""Bounded evaluation (issue 14, findings 2, 3, 5 and 6): nothing a user sends — a template, a
flow document, a request body, a websocket message — can exhaust a process's memory or turn
into a 500. Each finding is replayed over HTTP (the Django test client, real database), and the
two memory attacks also run in a fresh process whose peak RSS is compared with a baseline."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.consumers import EventsConsumer
from controlroom.roles import Role
from flows.models import Run
from tests.support import stack
from tests.support.approvals import cast
from tests.support.flows import document, launchable, node, save

__all__ = ["cast"]

pytestmark = pytest.mark.django_db

JSON = "application/json"
REPO = Path(__file__).resolve().parents[2]
#: How much a request may raise a fresh process's peak RSS over a harmless one of its kind.
MEMORY_CEILING_KIB = 50 * 1024

# The finding's 49-byte template: 10,000 references to one 99,999-character value.
PERCENT_BOMB = "{{ (('%(a)s'*10000) % {'a': 'x'*99999})|length }}"


def yaml_alias_bomb(aliases: int = 1000) -> str:
    """The finding's 103 KB YAML: one 100,000-character anchor, repeated by ``aliases`` aliases."""
    lines = [f"description: &big {'x' * 100_000}", "notes:"]
    lines += ["  - *big"] * aliases
    return "\n".join(lines) + "\n"


@pytest.fixture
def api(cast: dict[str, Any]) -> Callable[[str], Client]:
    """``api("viewer")``: a client that sends that user's bearer token."""
    clients: dict[str, Client] = {}

    def client_for(name: str) -> Client:
        if name not in clients:
            clients[name] = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast[name])}")
        return clients[name]

    return client_for


def refused(response: Any, status: int, code: str) -> str:
    """Assert ``response`` is the API's error shape with ``status`` and ``code``; its message."""
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


def preview(client: Client, text: str, **sample: Any) -> Any:
    body = {"kind": "template", "text": text, "input": sample}
    return client.post("/api/expressions/preview", json.dumps(body), content_type=JSON)


# --- finding 2: every string-building operation checks its size before building ---------------

# Each builds a value far past the limit from small parts; none may be built to find that out.
OVERSIZED = {
    "percent-mapping": PERCENT_BOMB,
    "percent-tuple": "{{ ('%1000s' * 100000) % ((1,) * 100000) }}",
    "format-filter": "{{ ('%(a)s' * 10000)|format(a='x' * 99999) }}",
    "str-format": "{{ ('{0}' * 10000).format('x' * 99999) }}",
    "str-format-width": "{{ ('{0:1000}' * 100000).format(1) }}",
    "format-map": "{{ ('{a}' * 10000).format_map({'a': 'x' * 99999}) }}",
    "repeat-str": "{{ 'x' * 2000000 }}",
    "repeat-list": "{{ [1, 2] * 600000 }}",
    "plus-str": "{{ ('x' * 999999) + ('x' * 999999) }}",
    "plus-list": "{% set l = ('x' * 99999)|list %}{{ l + l + l + l + l + l }}",
    "tilde": "{{ ([input.big] * 1000) ~ '' }}",
    "join-filter": "{{ ([input.big] * 100000)|join }}",
    "join-method": "{{ ''.join([input.big] * 100000) }}",
    "join-separator": "{{ ('x' * 99999)|join('y' * 99999) }}",
    "replace-filter": "{{ ('x' * 99999)|replace('x', 'y' * 99) }}",
    "replace-method": "{{ ('x' * 99999).replace('x', 'y' * 99) }}",
    "center-method": "{{ ('x' * 999999).center(100000) ~ ('x' * 999999) }}",
    "indent": "{{ ('\\n' * 99999)|indent(99, true, true) }}",
    "wordwrap": "{{ ('x' * 99999)|wordwrap(1, wrapstring='y' * 1000) }}",
    "tojson": "{{ ([input.big] * 100000)|tojson }}",
    "string": "{{ ([input.big] * 100000)|string }}",
    "urlize": "{{ ('a.co ' * 100000)|urlize(target='x' * 1000) }}",
    "escape": "{{ ('<' * 999999)|e }}",
    "list": "{{ ('x' * 999999)|list }}",
    "sum": "{{ ([range(90000)|list] * 11)|sum(start=[]) }}",
}


@pytest.mark.parametrize("text", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_a_value_too_large_to_build_is_refused_before_it_is_built(
    api: Callable[[str], Client], text: str
) -> None:
    response = preview(api("viewer"), text, big=10**1200)
    message = refused(response, 400, "invalid_expression")
    assert "would exceed 1000000 characters and items" in message or (
        "would exceed 100000 items" in message
    )


def test_pprint_whose_size_has_no_cheap_bound_is_not_available(
    api: Callable[[str], Client],
) -> None:
    response = preview(api("viewer"), "{{ ([input.big] * 100000)|pprint }}", big=10**1200)
    assert "No filter named 'pprint'" in refused(response, 400, "invalid_expression")


def test_large_values_below_the_limit_still_build(api: Callable[[str], Client]) -> None:
    response = preview(api("viewer"), "{{ (('%(a)s' * 9) % {'a': 'x' * 99999})|length }}")
    assert response.json() == {"value": 899991}
    response = preview(
        api("viewer"), "{{ ('{0}{1}' * 4).format(input.t, input.t)|length }}", t="x" * 1000
    )
    assert response.json() == {"value": 8000}


def test_a_percent_format_bomb_stays_under_the_memory_ceiling(
    memory_probe: Callable[[str, bytes, str], dict[str, Any]],
) -> None:
    def body(text: str) -> bytes:
        return json.dumps({"kind": "template", "text": text, "input": {}}).encode()

    baseline = memory_probe("/api/expressions/preview", body("{{ ('x' * 99999)|length }}"), JSON)
    attack = memory_probe("/api/expressions/preview", body(PERCENT_BOMB), JSON)
    assert baseline["status"] == 200
    assert attack["status"] == 400
    grown = attack["peak_kib"] - baseline["peak_kib"]
    assert grown < MEMORY_CEILING_KIB, f"peak RSS grew by {grown // 1024} MB"


# --- finding 3: YAML aliases are counted at their expanded size, while parsing ------------------


def test_a_yaml_alias_bomb_is_refused_by_the_parse_endpoint(api: Callable[[str], Client]) -> None:
    bomb = yaml_alias_bomb()
    assert len(bomb.encode()) < 110_000
    response = api("viewer").post("/api/flows/parse", bomb, content_type="application/yaml")
    assert len(response.content) < 10_000
    refused(response, 400, "invalid_document")
    [detail] = response.json()["error"]["details"]
    assert detail["message"].startswith("the document has more than 1000000 characters")
    assert "aliases" in detail["message"]


def test_a_yaml_alias_bomb_is_refused_on_import_too(api: Callable[[str], Client]) -> None:
    response = api("designer").post(
        "/api/flows", yaml_alias_bomb(), content_type="application/yaml"
    )
    refused(response, 400, "invalid_document")


def test_aliases_within_the_limit_still_parse(api: Callable[[str], Client]) -> None:
    text = "base: &b {model: m, temperature: 0.2}\none: *b\ntwo: *b\n"
    response = api("viewer").post("/api/flows/parse", text, content_type="application/yaml")
    assert response.json()["two"] == {"model": "m", "temperature": 0.2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000, "nested too deeply (more than 64 levels)"),
        ("a: &a [[[[x]]]]\nb: " + "[" * 62 + "*a" + "]" * 62, "nested too deeply"),
        ("a: &a [*a]\n", "the alias *a is inside the value it names (a cycle)"),
    ],
    ids=["deep", "deep-through-alias", "cycle"],
)
def test_deep_or_cyclic_yaml_is_a_clear_400(
    api: Callable[[str], Client], text: str, message: str
) -> None:
    response = api("viewer").post("/api/flows/parse", text, content_type="application/yaml")
    refused(response, 400, "invalid_document")
    assert message in response.json()["error"]["details"][0]["message"]


def test_a_yaml_alias_bomb_stays_under_the_memory_ceiling(
    memory_probe: Callable[[str, bytes, str], dict[str, Any]],
) -> None:
    harmless = f"description: {'x' * 100_000}\nnotes:\n" + "  - x\n" * 1000
    baseline = memory_probe("/api/flows/parse", harmless.encode(), "application/yaml")
    attack = memory_probe("/api/flows/parse", yaml_alias_bomb().encode(), "application/yaml")
    assert baseline["status"] == 200
    assert attack["status"] == 400
    grown = attack["peak_kib"] - baseline["peak_kib"]
    assert grown < MEMORY_CEILING_KIB, f"peak RSS grew by {grown // 1024} MB"


# --- finding 5: whatever an expression raises is the engine's error, never a 500 -----------------

FAILING = {
    "assertion": "{{ 'x'|truncate(-1) }}",
    "assertion-leeway": "{{ 'x'|truncate(1, leeway=-5) }}",
    "overflow": "{{ (1e308 * 10)|int }}",
    "recursion": "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}",
    "zero-division": "{{ 1 // 0 }}",
    "key": "{{ '%(a)s' % {} }}",
    "index": "{{ '%s %s' % (1,) }}",
    "type": "{{ 1 + 'a' }}",
    "value": "{{ '%z' % 1 }}",
    "unicode": "{{ input.t|urlencode }}",
}


@pytest.mark.parametrize("text", FAILING.values(), ids=FAILING.keys())
def test_every_failing_expression_is_a_400(api: Callable[[str], Client], text: str) -> None:
    response = preview(api("viewer"), text, t="\ud800")
    assert refused(response, 400, "invalid_expression").startswith("template ")


def test_a_template_too_nested_to_compile_is_an_invalid_document(
    api: Callable[[str], Client],
) -> None:
    deep = "{{ " + "(" * 1000 + "input.topic" + ")" * 1000 + " }}"
    doc = document("deep-prompt", [node("done", "end", output=deep)], [])
    response = api("designer").post("/api/flows", json.dumps(doc), content_type=JSON)
    refused(response, 400, "invalid_document")


def test_a_failing_subject_refuses_the_run_with_a_400(api: Callable[[str], Client]) -> None:
    save(
        launchable(
            document("bad-subject", [node("done", "end")], [], subject="{{ 'x'|truncate(-1) }}")
        )
    )
    response = api("admin").post(
        "/api/flows/bad-subject/runs", json.dumps({"input": {}}), content_type=JSON
    )
    message = refused(response, 400, "invalid")
    assert "subject template failed" in message and "expected length >= 3" in message


def test_a_failing_inline_node_fails_its_step_not_the_request(
    api: Callable[[str], Client],
) -> None:
    save(
        launchable(document("bad-end", [node("done", "end", output="{{ 'x'|truncate(-1) }}")], []))
    )
    response = api("admin").post(
        "/api/flows/bad-end/runs", json.dumps({"input": {}}), content_type=JSON
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get(id=response.json()["run_id"])
    step = run.steps.get(node_id="done")
    assert step.status == "failed"
    assert "expected length >= 3" in str(step.error)


# --- finding 6: a too-deep body is a 400 with a clear message, wherever it arrives -------------

DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"reason": ' + DEEP + "}"


def test_a_deep_pause_body_is_a_400(api: Callable[[str], Client]) -> None:
    save(document("pausable", [node("done", "end")], []))
    response = api("admin").post("/api/flows/pausable/pause", DEEP_OBJECT, content_type=JSON)
    assert "nested too deeply" in refused(response, 400, "invalid")


def test_a_deep_body_to_any_endpoint_is_a_400_that_says_why(api: Callable[[str], Client]) -> None:
    body = '{"kind": "template", "text": "x", "input": ' + DEEP + "}"
    response = api("viewer").post("/api/expressions/preview", body, content_type=JSON)
    assert "nested too deeply (more than 64 levels)" in refused(response, 400, "invalid")


def test_a_deep_flow_document_is_an_invalid_document(api: Callable[[str], Client]) -> None:
    response = api("viewer").post("/api/flows/parse", DEEP_OBJECT, content_type=JSON)
    refused(response, 400, "invalid_document")


@pytest.mark.django_db(transaction=True)
def test_a_deep_websocket_message_is_a_bad_message() -> None:
    viewer = user_ensure(username="viewer", role=Role.VIEWER)
    channel_layers.backends.clear()

    async def body() -> None:
        communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/?format=json")
        communicator.scope["user"] = viewer
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data=DEEP)
        assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_message"
        await communicator.send_to(text_data=json.dumps({"type": "subscribe", "groups": []}))
        await communicator.disconnect()

    try:
        async_to_sync(body)()
    finally:
        channel_layers.backends.clear()


# --- the memory probe: one request in a fresh process -------------------------------------------


@pytest.fixture
def memory_probe(
    transactional_db: None, tmp_path: Path
) -> Callable[[str, bytes, str], dict[str, Any]]:
    """``probe(path, body, content_type)``: POST ``body`` as a viewer in a new Python process
    (test settings, the test database) after a warm-up request, and return its ``status`` and
    ``peak_kib`` (the process's peak RSS). A fresh process per request, because the peak RSS is
    a high-water mark: this process's earlier peaks would hide the request's."""
    viewer = user_ensure(username="probe-viewer", role=Role.VIEWER)
    token = token_issue(user=viewer)
    env = stack.child_env(
        database_url=stack.database_url_from_settings(connection.settings_dict),
        redis_url=os.environ["REDIS_URL"],
        settings_module=os.environ["DJANGO_SETTINGS_MODULE"],
        extra={"PYTHONPATH": str(REPO), "PROBE_TOKEN": token},
    )

    def probe(path: str, body: bytes, content_type: str) -> dict[str, Any]:
        body_file = tmp_path / "body"
        body_file.write_bytes(body)
        done = subprocess.run(
            [sys.executable, "-c", _PROBE_MAIN, path, content_type, str(body_file)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    return probe


# Django first: importing this module needs the app registry.
_PROBE_MAIN = (
    "import django; django.setup(); "
    "from tests.security.test_bounded_evaluation import probe_main; probe_main()"
)


def probe_main() -> None:
    """The probe process: warm up (URLconf, apps, the engine and both parsers loaded), then send
    the one request and print its status and the process's peak RSS as JSON."""
    from django.test.utils import setup_test_environment

    setup_test_environment()
    path, content_type, body_file = sys.argv[1:4]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {os.environ['PROBE_TOKEN']}")
    client.post("/api/expressions/preview", {"kind": "template", "text": "{{ 1 }}"}, JSON)
    client.post("/api/flows/parse", "a: 1\n", content_type="application/yaml")
    response = client.post(path, Path(body_file).read_bytes(), content_type=content_type)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": response.status_code, "peak_kib": peak}))
