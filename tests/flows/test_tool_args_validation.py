"""Design-time checks of tool arguments: a tool node's ``args`` are checked against the tool's
argument schema when the flow is validated or saved (unknown, missing, wrong literal types),
each problem pinned to ``/nodes/<i>/config/args/<key>`` with a message naming the tool and the
argument; templates are accepted wherever a value goes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents import tools
from agents.models import McpServer, McpTool
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.document import InvalidDocument, document_problems
from flows.versions import document_check
from tests.support.flows import document, node


def _tool_flow(tool: str, args: Any) -> dict[str, Any]:
    """start (router) -> call (tool) -> done (end)."""
    return document(
        "tool-args",
        [node("start", "router"), node("call", "tool", tool=tool, args=args), node("done", "end")],
        [("start", "call"), ("call", "done")],
    )


def _problems(tool: str, args: Any) -> list[tuple[str, str]]:
    doc = _tool_flow(tool, args)
    found = document_problems(doc, known_agents=set(), known_tools=tools.static_tools())
    return [(p.pointer, p.message) for p in found]


ARGS = "/nodes/1/config/args"


def test_correct_literal_arguments_pass() -> None:
    assert (
        _problems("send_email", {"to": "ann@example.com", "subject": "Hi", "body": "Hello"}) == []
    )


def test_an_unknown_argument_names_the_tool_and_lists_its_arguments() -> None:
    found = _problems("send_email", {"recipient": "ann@example.com", "body": "Hello"})
    assert found == [
        (
            f"{ARGS}/recipient",
            "send_email has no argument 'recipient' (its arguments: to, subject, body)",
        ),
        (f"{ARGS}/to", "send_email needs the argument 'to': it is required"),
    ]


def test_a_misspelt_argument_gets_the_closest_name() -> None:
    found = _problems("send_email", {"to": "ann@example.com", "subjet": "Hi", "body": "x"})
    assert found == [
        (f"{ARGS}/subjet", "send_email has no argument 'subjet'; did you mean 'subject'?")
    ]


def test_missing_required_arguments_are_each_reported_at_their_key() -> None:
    found = _problems("send_email", {})
    assert [pointer for pointer, _ in found] == [f"{ARGS}/body", f"{ARGS}/to"]
    assert found[0][1] == "send_email needs the argument 'body': it is required"


def test_a_node_without_args_still_needs_the_required_ones() -> None:
    doc = _tool_flow("knowledge_search", {})
    del doc["nodes"][1]["config"]["args"]
    found = document_problems(doc, known_agents=set(), known_tools=tools.static_tools())
    assert [(p.pointer, p.message) for p in found] == [
        (f"{ARGS}/query", "knowledge_search needs the argument 'query': it is required")
    ]


@pytest.mark.parametrize(
    ("tool", "args", "pointer", "message"),
    [
        (
            "send_email",
            {"to": "ann@example.com", "body": 5},
            "body",
            "send_email argument 'body' must be a string, not an integer (5)",
        ),
        (
            "knowledge_search",
            {"query": "refunds", "limit": "5"},
            "limit",
            "knowledge_search argument 'limit' must be an integer, not a string (\"5\")",
        ),
        (
            "upsert_record",
            {"kind": "contact", "key": "ann", "data": ["not", "an", "object"]},
            "data",
            "upsert_record argument 'data' must be an object, not an array "
            '(["not", "an", "object"])',
        ),
        (
            "http",
            {"url": "https://example.com", "headers": {"X-Count": 3}},
            "headers/X-Count",
            "http argument 'headers/X-Count' must be a string, not an integer (3)",
        ),
    ],
)
def test_a_literal_of_the_wrong_type_is_reported_at_its_key(
    tool: str, args: dict[str, Any], pointer: str, message: str
) -> None:
    assert _problems(tool, args) == [(f"{ARGS}/{pointer}", message)]


def test_a_literal_the_schema_refuses_otherwise_is_reported_too() -> None:
    found = _problems("send_email", {"to": "not an address", "body": "x"})
    assert found == [(f"{ARGS}/to", "send_email argument 'to': 'not an address' is not a 'email'")]
    [(pointer, message)] = _problems("http", {"url": "https://example.com", "method": "FETCH"})
    assert pointer == f"{ARGS}/method"
    assert message.startswith("http argument 'method': 'FETCH' is not one of")


def test_the_tools_own_checks_run_on_all_literal_arguments() -> None:
    # A display name is refused by send_email's check_args, which JSON Schema cannot say.
    [(pointer, message)] = _problems("send_email", {"to": "Ann <ann@example.com>", "body": "x"})
    assert pointer == ARGS
    assert message.startswith("tool 'send_email' argument to:")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("send_email", {"to": "{{ input.email }}", "body": "Hello {{ input.name }}"}),
        # A single {{ expr }} keeps its value's type: it may render to an integer or an object.
        ("knowledge_search", {"query": "{{ input.q }}", "limit": "{{ input.limit }}"}),
        ("upsert_record", {"kind": "contact", "key": "{{ input.id }}", "data": "{{ input }}"}),
        ("http", {"url": "https://example.com", "headers": "{{ input.headers }}"}),
        # A display name might render; the tool's own check waits for the rendered value.
        ("send_email", {"to": "{{ input.name }} <ann@example.com>", "body": "x"}),
    ],
)
def test_templates_are_accepted_where_any_type_is_required(tool: str, args: Any) -> None:
    assert _problems(tool, args) == []


def test_a_literal_next_to_a_template_is_still_checked() -> None:
    found = _problems(
        "http", {"url": "{{ input.url }}", "headers": {"X-Id": "{{ input.id }}", "X-Count": 3}}
    )
    assert [pointer for pointer, _ in found] == [f"{ARGS}/headers/X-Count"]


def test_unknown_and_missing_arguments_are_reported_even_among_templates() -> None:
    found = _problems("send_email", {"recipient": "{{ input.email }}", "body": "{{ input.b }}"})
    assert [pointer for pointer, _ in found] == [f"{ARGS}/recipient", f"{ARGS}/to"]


def test_without_the_registry_the_static_tools_are_still_checked() -> None:
    found = document_problems(_tool_flow("send_email", {"recipient": "a@b.example"}))
    assert [p.pointer for p in found] == [f"{ARGS}/body", f"{ARGS}/recipient", f"{ARGS}/to"]


# --- MCP tools ----------------------------------------------------------------------------------


@pytest.fixture
def orders_server(db: None) -> McpServer:
    server = McpServer.objects.create(
        slug="orders",
        name="Orders",
        transport=McpServer.Transport.HTTP,
        url="http://127.0.0.1:9/mcp",
        category="read",
    )
    McpTool.objects.create(
        server=server,
        name="order_get",
        input_schema={
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
            "additionalProperties": False,
        },
    )
    McpTool.objects.create(server=server, name="anything", input_schema={})
    return server


def _check(doc: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        document_check(doc)
    except InvalidDocument as exc:
        return [(p.pointer, p.message) for p in exc.problems]
    return []


def test_an_mcp_tool_is_checked_against_its_stored_input_schema(orders_server: McpServer) -> None:
    assert _check(_tool_flow("mcp:orders/order_get", {"order_id": "{{ input.id }}"})) == []
    assert _check(_tool_flow("mcp:orders/order_get", {"order": 7})) == [
        (
            f"{ARGS}/order",
            "mcp:orders/order_get has no argument 'order'; did you mean 'order_id'?",
        ),
        (f"{ARGS}/order_id", "mcp:orders/order_get needs the argument 'order_id': it is required"),
    ]


def test_an_mcp_tool_without_a_schema_takes_any_object(orders_server: McpServer) -> None:
    assert _check(_tool_flow("mcp:orders/anything", {"x": 1, "y": [2]})) == []


def test_an_mcp_tool_not_refreshed_yet_is_an_unknown_tool(orders_server: McpServer) -> None:
    assert _check(_tool_flow("mcp:orders/order_cancel", {"order_id": "1"})) == [
        ("/nodes/1/config/tool", "unknown tool 'mcp:orders/order_cancel'")
    ]


# --- through the API ----------------------------------------------------------------------------


@pytest.fixture
def designer_client(db: None) -> Client:
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=designer)}")


BAD_EMAIL = {"recipient": "{{ input.email }}", "body": "Hello"}


def test_the_validate_endpoint_reports_argument_problems_by_pointer(
    designer_client: Client,
) -> None:
    response = designer_client.post(
        "/api/flows/validate",
        json.dumps(_tool_flow("send_email", BAD_EMAIL)),
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["errors"] == [
        {
            "pointer": f"{ARGS}/recipient",
            "message": "send_email has no argument 'recipient' (its arguments: to, subject, body)",
        },
        {"pointer": f"{ARGS}/to", "message": "send_email needs the argument 'to': it is required"},
    ]


def test_saving_refuses_a_flow_whose_tool_arguments_could_never_run(
    designer_client: Client,
) -> None:
    response = designer_client.post(
        "/api/flows",
        json.dumps(_tool_flow("send_email", BAD_EMAIL)),
        content_type="application/json",
    )
    assert 400 <= response.status_code < 500
    text = response.content.decode()
    assert f"{ARGS}/recipient" in text
    assert "send_email has no argument 'recipient'" in text


# --- an approval reviewing a tool call -----------------------------------------------------------


def _approval_flow(arguments: dict[str, Any]) -> dict[str, Any]:
    return document(
        "review-args",
        [
            node("review", "approval", title="Send it?", tool="send_email", arguments=arguments),
            node("done", "end"),
        ],
        [("review", "done")],
    )


def test_an_approvals_tool_call_arguments_are_checked_too() -> None:
    doc = _approval_flow({"recipient": "{{ input.to }}", "body": "Hello"})
    found = document_problems(doc, known_agents=set(), known_tools=tools.static_tools())
    assert [(p.pointer, p.message) for p in found] == [
        (
            "/nodes/0/config/arguments/recipient",
            "send_email has no argument 'recipient' (its arguments: to, subject, body)",
        ),
        ("/nodes/0/config/arguments/to", "send_email needs the argument 'to': it is required"),
    ]
    good = _approval_flow({"to": "{{ input.to }}", "body": "Hello"})
    assert document_problems(good, known_agents=set(), known_tools=tools.static_tools()) == []
