"""MCP servers: listing their tools and calling them, through the official ``mcp`` SDK.

A server is admin configuration. A stdio server is a command the worker runs; an HTTP server
is a streamable-HTTP URL it connects to. Because an admin registered them, these targets are
trusted the way a database URL is, and are not vetted by ``agents.egress`` (that is for URLs
an agent chooses): an MCP server on loopback or on the private network is normal.

What a server says about itself is *data*: tool names are checked, descriptions and input
schemas are stored as given, to be shown escaped in the UI and handed to models as text. None
of it decides anything: a tool's category, and so what policies do with it, is the server's
``category``, set by an admin.

The SDK is async and the Celery worker is sync: every call runs on a fresh event loop, under
``CONTROLROOM_MCP_TIMEOUT_SECONDS``, and nothing touches the database inside the loop. The SDK
(with pydantic models for every protocol version) is imported at the first call: it is slow to
import and most processes — the web server, the scheduler, ``manage.py`` — never call it.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from agents.models import McpServer, McpTool
from agents.redaction import redact, redact_value

if TYPE_CHECKING:
    from mcp import Client
    from mcp_types import CallToolResult

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MAX_DESCRIPTION_CHARS = 4000
MAX_PAGES = 50
IDEMPOTENCY_META_KEY = "dev.controlroom/idempotency-key"
CLIENT_NAME, CLIENT_VERSION = "controlroom", "1"


class McpServerError(Exception):
    """The server refused or failed the request, or is misconfigured: retrying will not help."""


class McpServerUnavailable(McpServerError):
    """The server did not answer in time or could not be reached: a retry may succeed."""


@dataclass(frozen=True)
class Connection:
    """How to reach a server, read from its row (and its secret) before any event loop runs:
    the ORM is not used from async code."""

    slug: str
    transport: str
    command: str
    args: tuple[str, ...]
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class ListedTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class McpResult:
    """A tool's answer: its content blocks (as JSON), structured content, joined text."""

    content: list[dict[str, Any]]
    structured: Any
    text: str
    is_error: bool


# --- Domain functions ------------------------------------------------------------------------


def mcp_server_list_tools(server: McpServer) -> list[McpTool]:
    """Connect to ``server``, list its tools and store them as ``McpTool`` rows.

    Replaces the server's rows with what it lists now (tools it no longer lists are deleted),
    sets ``last_listed_at`` and clears ``last_error``. Tools whose names are unusable in a
    registry name are skipped and said so in ``last_error``. On failure records the error in
    ``last_error``, keeps the old rows, and raises ``McpServerError``/``McpServerUnavailable``.
    """
    try:
        connection = mcp_connection(server)
        listed = _run(lambda: _list_tools(connection), timeout=mcp_timeout())
    except McpServerError as exc:
        McpServer.objects.filter(id=server.id).update(last_error=str(exc))
        server.last_error = str(exc)
        raise
    usable = [tool for tool in listed if TOOL_NAME.match(tool.name)]
    skipped = len(listed) - len(usable)
    note = f"skipped {skipped} tool(s) with names outside [A-Za-z0-9_.-]" if skipped else ""
    with transaction.atomic():
        for tool in usable:
            McpTool.objects.update_or_create(
                server=server,
                name=tool.name,
                defaults={"description": tool.description, "input_schema": tool.input_schema},
            )
        server.tools.exclude(name__in=[tool.name for tool in usable]).delete()
        server.last_listed_at = timezone.now()
        server.last_error = note
        server.save(update_fields=["last_listed_at", "last_error"])
    return list(server.tools.all())


def mcp_call(
    server: McpServer,
    tool: str,
    arguments: dict[str, Any],
    *,
    idempotency_key: str = "",
) -> McpResult:
    """Call ``tool`` on ``server`` with ``arguments`` and return its answer (redacted).

    A tool that reports an error returns ``is_error=True``; protocol and connection failures
    raise ``McpServerError`` / ``McpServerUnavailable``. ``idempotency_key`` travels in the
    request's ``_meta`` for servers that deduplicate. No database access, no retries here.
    """
    meta = {IDEMPOTENCY_META_KEY: idempotency_key} if idempotency_key else None

    async def work(client: Client) -> CallToolResult:
        return await client.call_tool(tool, arguments, meta=meta)  # type: ignore[arg-type]

    connection = mcp_connection(server)
    result = _run(lambda: _with_client(connection, work), timeout=mcp_timeout())
    return _result(result)


def mcp_timeout() -> float:
    return float(settings.CONTROLROOM.get("MCP_TIMEOUT_SECONDS", 30.0))


def mcp_connection(server: McpServer) -> Connection:
    """Check ``server``'s configuration and read what connecting needs, credentials included.
    Raises ``McpServerError`` for a server that cannot be connected to as configured."""
    if server.transport == McpServer.Transport.STDIO and not server.command:
        raise McpServerError(f"MCP server {server.slug!r} has no command")
    if server.transport == McpServer.Transport.HTTP and not server.url.startswith(
        ("http://", "https://")
    ):
        raise McpServerError(f"MCP server {server.slug!r} needs an http(s) URL")
    return Connection(
        slug=server.slug,
        transport=server.transport,
        command=server.command,
        args=tuple(str(arg) for arg in server.args or []),
        url=server.url,
        headers=_server_headers(server) if server.transport == McpServer.Transport.HTTP else {},
    )


# --- The SDK, on a fresh loop ----------------------------------------------------------------


def _run[T](work: Callable[[], Awaitable[T]], *, timeout: float) -> T:
    """Run ``work`` to completion on a new event loop, within ``timeout`` seconds.

    In a thread that already runs a loop (an async view), the loop runs in a helper thread.
    """

    import anyio

    async def bounded() -> T:
        with anyio.fail_after(timeout):
            return await work()

    def run() -> T:
        try:
            return asyncio.run(bounded())
        except BaseException as exc:  # the SDK's task groups wrap failures in groups
            raise _classified(exc, timeout=timeout) from None

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcp") as pool:
        return pool.submit(run).result()


async def _list_tools(connection: Connection) -> list[ListedTool]:
    async def work(client: Client) -> list[ListedTool]:
        listed: list[ListedTool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            listed += [
                _listed(tool.name, tool.description, tool.input_schema) for tool in page.tools
            ]
            cursor = page.next_cursor
            if cursor is None:
                break
        return listed

    return await _with_client(connection, work)


def _listed(name: str, description: str | None, schema: Any) -> ListedTool:
    """A listed tool as we keep it: description as plain data, a schema that is valid or
    the permissive ``{"type": "object"}`` (the server still validates what it receives)."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        usable = isinstance(schema, dict)
    except jsonschema.SchemaError:
        usable = False
    return ListedTool(
        name=name,
        description=(description or "")[:MAX_DESCRIPTION_CHARS],
        input_schema=schema if usable else {"type": "object"},
    )


async def _with_client[T](connection: Connection, work: Callable[[Client], Awaitable[T]]) -> T:
    from mcp import Client
    from mcp_types import Implementation

    async with _transport(connection) as transport:
        client = Client(
            transport,
            read_timeout_seconds=mcp_timeout(),
            client_info=Implementation(name=CLIENT_NAME, version=CLIENT_VERSION),
            cache=None,
        )
        async with client:
            return await work(client)


@asynccontextmanager
async def _transport(connection: Connection) -> AsyncIterator[Any]:
    """The SDK transport: a spawned process (its stderr kept aside), or streamable HTTP."""
    import httpx2
    from mcp import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client

    if connection.transport == McpServer.Transport.STDIO:
        parameters = StdioServerParameters(command=connection.command, args=list(connection.args))
        with tempfile.TemporaryFile("w+") as errlog:
            yield stdio_client(parameters, errlog=errlog)
        return
    async with httpx2.AsyncClient(
        headers=connection.headers, timeout=httpx2.Timeout(mcp_timeout()), trust_env=False
    ) as http:
        yield streamable_http_client(connection.url, http_client=http)


def _server_headers(server: McpServer) -> dict[str, str]:
    """Headers from the server's secret: a JSON object of headers, or a bearer token."""
    if server.headers_secret_id is None:
        return {}
    from agents.secrets import SecretMissing, SecretUnreadable, secret_reveal

    name = server.headers_secret.name if server.headers_secret else ""
    try:
        value = secret_reveal(name)
    except (SecretMissing, SecretUnreadable, ImproperlyConfigured) as exc:
        raise McpServerError(f"MCP server {server.slug!r}: credential unusable: {exc}") from None
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return {str(key): str(item) for key, item in parsed.items()}
    return {"Authorization": f"Bearer {value}"}


def _result(result: CallToolResult) -> McpResult:
    content = [block.model_dump(mode="json", exclude_none=True) for block in result.content]
    text = "\n".join(str(block["text"]) for block in content if block.get("type") == "text")
    return McpResult(
        content=redact_value(content),
        structured=redact_value(result.structured_content),
        text=redact(text),
        is_error=bool(result.is_error),
    )


# --- Failures --------------------------------------------------------------------------------


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _classified(exc: BaseException, *, timeout: float) -> BaseException:
    """One of ours for whatever the SDK raised: transient for time and transport trouble."""
    import httpx2
    from mcp import MCPError

    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, McpServerError):
            return leaf
    for leaf in leaves:
        if isinstance(leaf, TimeoutError):
            return McpServerUnavailable(f"the MCP server did not answer within {timeout:g}s")
        if isinstance(leaf, FileNotFoundError | PermissionError):
            return McpServerError(f"the MCP server command cannot be run: {leaf}")
        if isinstance(leaf, httpx2.HTTPStatusError) and leaf.response.status_code < 500:
            return McpServerError(redact(f"the MCP server refused: {leaf}"))
        if isinstance(leaf, OSError | httpx2.TransportError | httpx2.HTTPStatusError):
            return McpServerUnavailable(redact(f"the MCP server is unreachable: {leaf}"))
        if isinstance(leaf, MCPError):
            return McpServerError(redact(f"the MCP server answered with an error: {leaf}"))
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    first = leaves[0]
    return McpServerError(redact(f"MCP call failed: {type(first).__name__}: {first}"))
