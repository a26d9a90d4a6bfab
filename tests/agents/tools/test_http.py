"""The ``http`` tool against a real loopback server: categories, the Idempotency-Key and the
effect ledger, failure classes, and credentials that never show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents import tools
from agents.models import Effect
from agents.secrets import secret_set
from agents.tools import ToolError, ToolTransientError
from agents.tools.http import retry_after_seconds
from flows.engine import runs
from flows.models import Run
from tests.support.flows import document, drive, node, save
from tests.support.loopback_http import LoopbackHTTP, Reply, egress_configure
from tests.support.tools import set_flag

pytestmark = pytest.mark.django_db

TOKEN = "tok-9f8e7d6c5b4a39281706"


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackHTTP]:
    """A loopback server the allowlist opens (as an operator would for an internal API)."""
    with LoopbackHTTP() as running:
        egress_configure(settings, monkeypatch, f"127.0.0.1:{running.port}")
        yield running


def call(key: str = "run:notify:", **args: Any) -> Any:
    return tools.tool_call(name="http", args=args, idempotency_key=key, subject="ada@example.com")


def category(**args: Any) -> str:
    return tools.tool_category(name="http", args=args)


def test_reads_and_writes_are_categorised_by_method() -> None:
    assert category(url="https://example.com") == "read"
    assert category(method="HEAD", url="https://example.com") == "read"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert category(method=method, url="https://example.com") == "write"
    declared = category(method="POST", url="https://x.test", category="outbound_message")
    assert declared == "outbound_message"


def test_arguments_cannot_make_a_write_look_like_a_read() -> None:
    with pytest.raises(ToolError, match="category"):
        call(method="POST", url="https://example.com/", category="read")


def test_a_get_returns_status_headers_and_parsed_json(server: LoopbackHTTP) -> None:
    server.route("/items", Reply(body={"items": [1, 2]}, headers={"ETag": '"v1"'}))
    result = call(url=server.url("/items"), query={"page": 2, "all": True})
    assert result["status"] == 200
    assert result["json"] == {"items": [1, 2]}
    assert result["headers"]["etag"] == '"v1"'
    assert result["replayed"] is False
    [request] = server.received("/items")
    assert request.path == "/items?page=2&all=true"
    assert "idempotency-key" not in request.headers
    assert Effect.objects.count() == 0


def test_a_post_sends_the_call_key_as_idempotency_key(server: LoopbackHTTP) -> None:
    result = call("run-1:notify:", method="POST", url=server.url("/hooks"), json={"a": 1})
    [request] = server.received("/hooks")
    assert request.headers["idempotency-key"] == "run-1:notify:"
    assert request.headers["content-type"] == "application/json"
    assert request.body == b'{"a": 1}'
    assert result["json"]["method"] == "POST"
    effect = Effect.objects.get(key="run-1:notify:")
    assert (effect.tool, effect.category, effect.subject) == ("http", "write", "ada@example.com")


def test_a_repeated_call_with_the_same_key_replays_instead_of_calling_again(
    server: LoopbackHTTP,
) -> None:
    first = call("run-2:notify:", method="POST", url=server.url("/hooks"), body="hello")
    again = call("run-2:notify:", method="POST", url=server.url("/hooks"), body="hello")
    assert len(server.received("/hooks")) == 1
    assert again["replayed"] is True
    assert {**again, "replayed": False} == first


def test_a_failed_attempt_records_nothing_and_its_retry_sends_the_same_key(
    server: LoopbackHTTP,
) -> None:
    server.route("/hooks", Reply(status=503, headers={"Retry-After": "7"}))
    with pytest.raises(ToolTransientError) as failure:
        call("run-3:notify:", method="POST", url=server.url("/hooks"))
    assert failure.value.retry_after == 7.0
    assert not Effect.objects.filter(key="run-3:notify:").exists()
    server.unroute("/hooks")
    assert call("run-3:notify:", method="POST", url=server.url("/hooks"))["status"] == 200
    keys = [request.headers["idempotency-key"] for request in server.received("/hooks")]
    assert keys == ["run-3:notify:", "run-3:notify:"]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_timeouts_throttling_and_server_errors_are_transient(
    server: LoopbackHTTP, status: int
) -> None:
    server.route("/flaky", Reply(status=status))
    with pytest.raises(ToolTransientError, match=str(status)):
        call(url=server.url("/flaky"))


def test_a_slow_server_is_a_transient_timeout(
    server: LoopbackHTTP, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    egress_configure(settings, monkeypatch, f"127.0.0.1:{server.port}", read_timeout_seconds=0.3)
    server.route("/slow", Reply(delay=2))
    with pytest.raises(ToolTransientError, match="did not answer in time"):
        call(url=server.url("/slow"))


def test_a_client_error_fails_with_the_status_and_a_short_excerpt(server: LoopbackHTTP) -> None:
    server.route("/hooks", Reply(status=422, body={"error": "email is invalid " + "x" * 500}))
    with pytest.raises(ToolError) as failure:
        call(method="POST", url=server.url("/hooks"), json={})
    assert not isinstance(failure.value, ToolTransientError)
    message = str(failure.value)
    assert "422" in message and "email is invalid" in message
    assert len(message) < 400


def test_refused_targets_fail_without_retry(server: LoopbackHTTP) -> None:
    with pytest.raises(ToolError, match="loopback") as failure:
        call(url="http://localhost:1/")
    assert not isinstance(failure.value, ToolTransientError)


def test_reserved_headers_cannot_be_set_by_arguments(server: LoopbackHTTP) -> None:
    for name in ("Host", "Idempotency-Key", "Content-Length"):
        with pytest.raises(ToolError, match="set by the tool"):
            call(url=server.url("/"), headers={name: "x"})
    assert server.connections == 0


def test_credentials_come_from_a_secret_and_never_show(server: LoopbackHTTP) -> None:
    secret_set(name="crm-token", value=TOKEN, allowed_hosts=[f"127.0.0.1:{server.port}"])
    server.route("/leaky", Reply(status=401, body={"got": f"Bearer {TOKEN}"}))
    auth = {"secret": "crm-token"}
    result = call("run-4:crm:", method="POST", url=server.url("/echo"), auth=auth)
    [request] = server.received("/echo")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(result)  # the echo carried it back: redacted in the output
    assert TOKEN not in repr(Effect.objects.get(key="run-4:crm:").__dict__)
    with pytest.raises(ToolError) as failure:
        call(url=server.url("/leaky"), auth={**auth, "header": "X-Api-Key", "scheme": ""})
    assert TOKEN not in str(failure.value)
    assert server.received("/leaky")[0].headers["x-api-key"] == TOKEN


def test_a_missing_secret_is_a_clear_domain_error(server: LoopbackHTTP) -> None:
    with pytest.raises(ToolError, match="'nope' cannot be used"):
        call(url=server.url("/"), auth={"secret": "nope"})
    assert server.connections == 0


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("soon") is None


# --- Through the engine ------------------------------------------------------------------------


def _start(doc: dict[str, Any], data: dict[str, Any]) -> Run:
    run, _ = runs.run_start(flow=save(doc), input=data)
    return run


def test_a_tool_node_posts_once_and_a_retried_run_does_not_post_again(
    server: LoopbackHTTP,
) -> None:
    doc = document(
        "notify-then-fail",
        [
            node(
                "notify",
                "tool",
                tool="http",
                args={
                    "method": "POST",
                    "url": "{{ input.hook }}",
                    "json": {"email": "{{ input.email }}"},
                },
            ),
            node("check", "tool", tool="fail_while_flagged", args={"flag": "http-test"}),
        ],
        [("notify", "check")],
    )
    set_flag("http-test", True)
    try:
        run = drive(_start(doc, {"hook": server.url("/hooks"), "email": "ada@example.com"}))
        assert run.status == "failed"
        set_flag("http-test", False)
        retried = drive(runs.run_retry(run_id=run.id))
    finally:
        set_flag("http-test", False)
    assert retried.status == "succeeded"
    [request] = server.received("/hooks")
    notify = run.steps.get(node_id="notify")
    assert request.headers["idempotency-key"] == notify.idempotency_key
    assert request.body == b'{"email": "ada@example.com"}'
    assert notify.output["status"] == 200


def test_a_tool_node_retries_a_503_with_the_same_key(server: LoopbackHTTP) -> None:
    server.route("/hooks", Reply(status=503), Reply(status=201, body={"id": 7}))
    doc = document(
        "notify-retry",
        [
            node(
                "notify",
                "tool",
                tool="http",
                args={"method": "PUT", "url": server.url("/hooks"), "body": "x"},
                retry={"max_attempts": 3, "backoff_seconds": 0},
            )
        ],
        [],
    )
    run = drive(_start(doc, {}))
    assert run.status == "succeeded"
    step = run.steps.get(node_id="notify")
    assert step.attempt == 2
    assert step.output["json"] == {"id": 7}
    keys = [request.headers["idempotency-key"] for request in server.received("/hooks")]
    assert keys == [step.idempotency_key, step.idempotency_key]
    assert Effect.objects.filter(key=step.idempotency_key).count() == 1
