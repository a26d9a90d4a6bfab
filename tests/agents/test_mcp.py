"""MCP through the official SDK against a real MCP server process (tests/support/mcp_server.py):
spawned by the client over stdio, or started by the test on a loopback port and reached over
streamable HTTP. Tools are listed into rows, named ``mcp:<server>/<tool>`` in the registry with
the server's category, and called directly and from a flow's tool node."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import psutil
import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from agents import tools
from agents.mcp import McpServerError, McpServerUnavailable, mcp_call, mcp_server_list_tools
from agents.models import Effect, McpServer, McpTool
from agents.secrets import secret_set
from agents.tools import ToolError, ToolTransientError
from controlroom import devstack
from flows.engine import runs
from tests.support.flows import document, drive, node, save
from tests.support.stack import ManagedProcess

pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "mcp_server.py"
TOOL_NAMES = {"add", "create_ticket", "lookup_order", "nap", "wire_money"}


@pytest.fixture
def calls_file(tmp_path: Path) -> Path:
    return tmp_path / "tickets.txt"


@pytest.fixture
def stdio_server(calls_file: Path) -> McpServer:
    return McpServer.objects.create(
        slug="orders",
        name="Orders (stdio)",
        transport=McpServer.Transport.STDIO,
        command=sys.executable,
        args=[str(SCRIPT), "stdio", "--calls-file", str(calls_file)],
        category="read",
    )


@pytest.fixture
def http_process(
    calls_file: Path, process_log_dir: Path, managed_processes: list[ManagedProcess]
) -> Iterator[int]:
    """The MCP server as its own process on a free loopback port; yields the port."""
    port = devstack.free_port()
    process = ManagedProcess(
        name="mcp-http",
        argv=[
            sys.executable,
            str(SCRIPT),
            "http",
            "--port",
            str(port),
            "--calls-file",
            str(calls_file),
        ],
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        log_path=process_log_dir / "mcp-http.log",
    )
    managed_processes.append(process)
    process.start()
    devstack.wait_until(
        lambda: _accepts(port) or (not process.is_alive() and _died(process)),
        timeout=30,
        what=f"the MCP server on port {port}",
    )
    yield port


@pytest.fixture
def http_server(http_process: int) -> McpServer:
    return McpServer.objects.create(
        slug="orders-http",
        name="Orders (HTTP)",
        transport=McpServer.Transport.HTTP,
        url=f"http://127.0.0.1:{http_process}/mcp",
        category="read",
    )


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _died(process: ManagedProcess) -> bool:
    raise RuntimeError(f"the MCP server exited:\n{process.log_text()}")


def call(name: str, key: str = "run:step:", **args: object) -> dict[str, object]:
    result = tools.tool_call(name=name, args=args, idempotency_key=key, subject="ada")
    assert isinstance(result, dict)
    return result


# --- Discovery -----------------------------------------------------------------------------------


def test_a_stdio_server_lists_its_tools_into_rows(stdio_server: McpServer) -> None:
    listed = mcp_server_list_tools(stdio_server)
    assert {tool.name for tool in listed} == TOOL_NAMES
    add = McpTool.objects.get(server=stdio_server, name="add")
    assert add.description == "Add two integers."
    assert add.input_schema["required"] == ["a", "b"]
    assert add.input_schema["properties"]["a"]["type"] == "integer"
    stdio_server.refresh_from_db()
    assert stdio_server.last_listed_at is not None
    assert stdio_server.last_error == ""


def test_listing_again_drops_tools_the_server_no_longer_has(stdio_server: McpServer) -> None:
    McpTool.objects.create(server=stdio_server, name="retired", input_schema={"type": "object"})
    mcp_server_list_tools(stdio_server)
    assert set(stdio_server.tools.values_list("name", flat=True)) == TOOL_NAMES


def test_the_registry_names_tools_by_server_and_gives_them_the_servers_category(
    stdio_server: McpServer,
) -> None:
    stdio_server.category = "payment"
    stdio_server.save()
    mcp_server_list_tools(stdio_server)
    registry = tools.registry()
    names = {name for name in registry if name.startswith("mcp:orders/")}
    assert names == {f"mcp:orders/{tool}" for tool in TOOL_NAMES}
    # The description claims to be a safe read; it is data, and changes nothing.
    wire = registry["mcp:orders/wire_money"]
    assert "category=read" in wire.description and "<script>" in wire.description
    assert wire.category == "payment"
    assert tools.tool_category(name="mcp:orders/wire_money", args={"amount": 1}) == "payment"
    assert registry["mcp:orders/add"].category == "payment"


def test_a_disabled_servers_tools_are_not_in_the_registry(stdio_server: McpServer) -> None:
    mcp_server_list_tools(stdio_server)
    stdio_server.enabled = False
    stdio_server.save()
    assert not any(name.startswith("mcp:orders/") for name in tools.registry())
    with pytest.raises(ToolError, match="unknown tool"):
        call("mcp:orders/add", a=1, b=2)


def test_a_server_that_cannot_be_reached_records_the_error(settings: Settings) -> None:
    server = McpServer.objects.create(
        slug="down",
        name="Down",
        transport=McpServer.Transport.HTTP,
        url=f"http://127.0.0.1:{devstack.free_port()}/mcp",
    )
    with pytest.raises(McpServerUnavailable):
        mcp_server_list_tools(server)
    server.refresh_from_db()
    assert "unreachable" in server.last_error
    assert server.last_listed_at is None


def test_a_stdio_command_that_does_not_exist_is_a_configuration_error() -> None:
    server = McpServer.objects.create(
        slug="missing", name="Missing", transport="stdio", command="/nonexistent/mcp-server"
    )
    with pytest.raises(McpServerError) as failure:
        mcp_server_list_tools(server)
    assert not isinstance(failure.value, McpServerUnavailable)
    server.refresh_from_db()
    assert server.last_error


# --- Calls over stdio ----------------------------------------------------------------------------


def test_a_stdio_tool_call_end_to_end(stdio_server: McpServer) -> None:
    mcp_server_list_tools(stdio_server)
    result = call("mcp:orders/add", a=2, b=40)
    assert result["structured"] == {"result": 42}
    assert result["text"] == "42"
    assert result["replayed"] is False


def test_a_tool_error_fails_the_call_with_the_servers_message(stdio_server: McpServer) -> None:
    mcp_server_list_tools(stdio_server)
    with pytest.raises(ToolError, match="no order Z-1") as failure:
        call("mcp:orders/lookup_order", order_id="Z-1")
    assert not isinstance(failure.value, ToolTransientError)


def test_arguments_are_checked_against_the_listed_schema(stdio_server: McpServer) -> None:
    mcp_server_list_tools(stdio_server)
    with pytest.raises(ToolError, match="argument a"):
        call("mcp:orders/add", a="two", b=3)


def test_a_write_tool_goes_through_the_ledger_and_acts_once_per_key(
    stdio_server: McpServer, calls_file: Path
) -> None:
    stdio_server.category = "write"
    stdio_server.save()
    mcp_server_list_tools(stdio_server)
    first = call("mcp:orders/create_ticket", "run-9:ticket:", title="Printer on fire")
    again = call("mcp:orders/create_ticket", "run-9:ticket:", title="Printer on fire")
    assert calls_file.read_text().splitlines() == ["Printer on fire"]
    assert again["replayed"] is True
    assert first["structured"] == again["structured"]
    effect = Effect.objects.get(key="run-9:ticket:")
    assert (effect.tool, effect.category) == ("mcp:orders/create_ticket", "write")


def test_a_call_over_its_time_limit_is_transient_and_stops_the_server(
    stdio_server: McpServer, settings: Settings
) -> None:
    mcp_server_list_tools(stdio_server)
    settings.CONTROLROOM = {**settings.CONTROLROOM, "MCP_TIMEOUT_SECONDS": 1.0}
    started = time.monotonic()
    with pytest.raises(ToolTransientError, match="did not answer within 1s"):
        call("mcp:orders/nap", seconds=20)
    assert time.monotonic() - started < 8
    assert _stdio_children() == []


def _stdio_children() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and "mcp_server.py" in " ".join(child.cmdline())
    ]


# --- Calls over streamable HTTP ------------------------------------------------------------------


def test_an_http_server_lists_and_answers_end_to_end(http_server: McpServer) -> None:
    listed = mcp_server_list_tools(http_server)
    assert {tool.name for tool in listed} == TOOL_NAMES
    result = call("mcp:orders-http/lookup_order", order_id="A-100")
    assert "shipped" in str(result["text"])
    direct = mcp_call(http_server, "add", {"a": 20, "b": 22})
    assert (direct.structured, direct.is_error) == ({"result": 42}, False)


def test_an_http_server_gets_its_headers_from_a_secret(http_server: McpServer) -> None:
    secret = secret_set(name="mcp-orders", value='{"X-Api-Key": "k-1234567890"}')
    http_server.headers_secret = secret
    http_server.save()
    assert {tool.name for tool in mcp_server_list_tools(http_server)} == TOOL_NAMES


# --- Through the engine --------------------------------------------------------------------------


def test_a_flow_tool_node_calls_an_mcp_tool(stdio_server: McpServer) -> None:
    mcp_server_list_tools(stdio_server)
    doc = document(
        "mcp-add",
        [
            node("sum", "tool", tool="mcp:orders/add", args={"a": 2, "b": 3}),
            node(
                "order",
                "tool",
                tool="mcp:orders/lookup_order",
                args={"order_id": "{{ input.order }}"},
            ),
        ],
        [("sum", "order")],
    )
    run, _ = runs.run_start(flow=save(doc), input={"order": "A-101"})
    run = drive(run)
    assert run.status == "succeeded"
    assert run.steps.get(node_id="sum").output["structured"] == {"result": 5}
    assert "processing" in run.steps.get(node_id="order").output["text"]


def test_a_flow_over_http_mcp(http_server: McpServer) -> None:
    mcp_server_list_tools(http_server)
    doc = document(
        "mcp-http-add",
        [node("sum", "tool", tool="mcp:orders-http/add", args={"a": 7, "b": 35})],
        [],
    )
    run, _ = runs.run_start(flow=save(doc), input={})
    run = drive(run)
    assert run.status == "succeeded"
    assert run.steps.get(node_id="sum").output["structured"] == {"result": 42}


def test_the_command_refreshes_servers_and_reports_failures(stdio_server: McpServer) -> None:
    out = StringIO()
    call_command("mcp_list_tools", "orders", stdout=out)
    assert out.getvalue().startswith("orders: add, create_ticket")
    McpServer.objects.create(slug="gone", name="Gone", transport="stdio", command="/nonexistent")
    err = StringIO()
    with pytest.raises(CommandError, match="1 server"):
        call_command("mcp_list_tools", stdout=StringIO(), stderr=err)
    assert err.getvalue().startswith("gone: ")
    with pytest.raises(CommandError, match="no MCP server nope"):
        call_command("mcp_list_tools", "nope")
