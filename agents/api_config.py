"""``/api/connections``, ``/api/mcp-servers``, ``/api/knowledge``: what agents are configured
with, over JSON, with the roles of the pages that do the same (``agents.views.connections``,
``.mcp``, ``.knowledge``) and the same domain functions, which write the audit rows.

Who may do what (checked before the body is parsed, ``controlroom.api.requires``):
- every role that may view reads all three;
- designers and admins create, change and delete connections (only an admin's save binds the
  key secret to the connection), refresh an MCP server's tools, create, delete and upload to
  knowledge bases;
- only admins register, change and delete MCP servers (a server's category decides what
  policies do with its tools).

Secrets are named, never shown: a connection's ``api_key`` and a server's ``headers_secret``
are secret names. Invalid input is a 422 whose ``details`` point at the field
(``/timeout_seconds``); a taken slug is a 409.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile as DjangoUploadedFile
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from ninja import File, Router, Status, UploadedFile
from ninja.errors import HttpError

from agents import connections, forms, knowledge, mcp, mcp_servers, selectors
from agents.agents import Problem
from agents.models import KnowledgeBase, McpServer, McpTool, ProviderConnection
from agents.redaction import redact
from agents.schemas import (
    ConnectionIn,
    ConnectionListOut,
    ConnectionOut,
    ConnectionPut,
    KnowledgeBaseIn,
    KnowledgeBaseListOut,
    KnowledgeBaseOut,
    KnowledgeDocumentListOut,
    McpServerIn,
    McpServerListOut,
    McpServerOut,
    McpServerPut,
    McpToolListOut,
)
from controlroom.api import ERRORS as BASE_ERRORS
from controlroom.api import ErrorOut, error_response, requires
from controlroom.roles import Capability, Role, roles_of

router = Router(tags=["configuration"], auth=requires(Capability.VIEW))
DESIGN = requires(Capability.DESIGN)
ADMIN_ONLY = requires(Role.ADMIN, refusal="only admins may register or change MCP servers")
ERRORS = {**BASE_ERRORS, 502: ErrorOut}
DOCUMENTS_LISTED = 500


def _problems(request: HttpRequest, message: str, problems: list[Problem]) -> HttpResponse:
    """422 with a pointer per problem; a taken slug is a 409 instead."""
    details = [
        {"pointer": f"/{p.field}" if p.field else "", "message": p.message} for p in problems
    ]
    if any(p.field == "slug" and "exists already" in p.message for p in problems):
        return error_response(request, 409, "conflict", problems[0].message, details)
    return error_response(request, 422, "invalid", message, details)


def _is_admin(request: HttpRequest) -> bool:
    return Role.ADMIN in roles_of(request.user)


# --- provider connections -------------------------------------------------------------------------


def _connection_or_404(slug: str) -> ProviderConnection:
    connection = selectors.connection_get(slug=slug)
    if connection is None:
        raise HttpError(404, f"no connection {slug!r}")
    return connection


def _connection_dict(connection: ProviderConnection) -> dict[str, Any]:
    return {
        "slug": connection.slug,
        "kind": connection.kind,
        "base_url": connection.base_url,
        "api_key": connection.api_key.name if connection.api_key else None,
        "timeout_seconds": connection.timeout_seconds,
        "agent_count": getattr(connection, "agent_count", None) or connection.agents.count(),
        "created_at": connection.created_at.isoformat(),
        "updated_at": connection.updated_at.isoformat(),
    }


@router.get("/connections", response={200: ConnectionListOut, **ERRORS})
def connection_list(request: HttpRequest) -> dict[str, Any]:
    """Every provider connection, by slug (key secrets by name only)."""
    items = [_connection_dict(c) for c in selectors.connection_list()]
    return {"items": items, "next_cursor": None}


@router.post(
    "/connections",
    response={201: ConnectionOut, **ERRORS},
    summary="Create a provider connection (an admin's create binds the key secret to it)",
    auth=DESIGN,
)
def connection_create(request: HttpRequest, payload: ConnectionIn) -> Any:
    try:
        created = connections.connection_create(bind_key=_is_admin(request), **payload.dict())
    except connections.ConnectionInvalid as exc:
        return _problems(request, "the connection is invalid", exc.problems)
    return Status(201, _connection_dict(_connection_or_404(created.slug)))


@router.get("/connections/{slug}", response={200: ConnectionOut, **ERRORS})
def connection_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _connection_dict(_connection_or_404(slug))


@router.put(
    "/connections/{slug}",
    response={200: ConnectionOut, **ERRORS},
    summary="Replace a connection's settings (not its slug); a designer's save re-points "
    "without binding the key",
    auth=DESIGN,
)
def connection_update(request: HttpRequest, slug: str, payload: ConnectionPut) -> Any:
    connection = _connection_or_404(slug)
    try:
        connections.connection_update(
            connection=connection, bind_key=_is_admin(request), **payload.dict()
        )
    except connections.ConnectionInvalid as exc:
        return _problems(request, "the connection is invalid", exc.problems)
    return _connection_dict(_connection_or_404(slug))


@router.delete("/connections/{slug}", response={204: None, **ERRORS}, auth=DESIGN)
def connection_delete(request: HttpRequest, slug: str) -> Any:
    """409 while agents use the connection."""
    try:
        connections.connection_delete(connection=_connection_or_404(slug))
    except connections.ConnectionInUse as exc:
        raise HttpError(409, str(exc)) from None
    return Status(204, None)


# --- MCP servers ----------------------------------------------------------------------------------


def _server_or_404(slug: str) -> McpServer:
    server = selectors.mcp_server_get(slug=slug)
    if server is None:
        raise HttpError(404, f"no MCP server {slug!r}")
    return server


def _server_dict(server: McpServer) -> dict[str, Any]:
    tool_count = getattr(server, "tool_count", None)
    return {
        "slug": server.slug,
        "name": server.name,
        "transport": server.transport,
        "command": server.command,
        "args": [str(arg) for arg in server.args or []],
        "url": server.url,
        "category": server.category,
        "headers_secret": server.headers_secret.name if server.headers_secret else None,
        "enabled": server.enabled,
        "tool_count": server.tools.count() if tool_count is None else tool_count,
        "last_listed_at": server.last_listed_at.isoformat() if server.last_listed_at else None,
        "last_error": redact(server.last_error),
        "created_at": server.created_at.isoformat(),
    }


def _tool_dict(server: McpServer, tool: McpTool) -> dict[str, Any]:
    return {
        "name": f"mcp:{server.slug}/{tool.name}",
        "tool": tool.name,
        "description": tool.description,
        "category": server.category,
        "input_schema": tool.input_schema or {},
        "listed_at": tool.listed_at.isoformat(),
    }


def _tools(server: McpServer) -> dict[str, Any]:
    items = [_tool_dict(server, tool) for tool in server.tools.order_by("name")]
    return {"items": items, "next_cursor": None}


@router.get("/mcp-servers", response={200: McpServerListOut, **ERRORS})
def mcp_server_list(request: HttpRequest) -> dict[str, Any]:
    servers = selectors.mcp_server_list().select_related("headers_secret")
    return {
        "items": [_server_dict(s) for s in servers.defer("headers_secret__ciphertext")],
        "next_cursor": None,
    }


@router.post(
    "/mcp-servers",
    response={201: McpServerOut, **ERRORS},
    summary="Register an MCP server (admins); list its tools with POST …/refresh",
    auth=ADMIN_ONLY,
)
def mcp_server_create(request: HttpRequest, payload: McpServerIn) -> Any:
    try:
        server = mcp_servers.mcp_server_create(**payload.dict())
    except mcp_servers.McpServerInvalid as exc:
        return _problems(request, "the MCP server is invalid", exc.problems)
    return Status(201, _server_dict(_server_or_404(server.slug)))


@router.get("/mcp-servers/{slug}", response={200: McpServerOut, **ERRORS})
def mcp_server_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _server_dict(_server_or_404(slug))


@router.put(
    "/mcp-servers/{slug}",
    response={200: McpServerOut, **ERRORS},
    summary="Replace an MCP server's settings (admins; not its slug)",
    auth=ADMIN_ONLY,
)
def mcp_server_update(request: HttpRequest, slug: str, payload: McpServerPut) -> Any:
    server = _server_or_404(slug)
    try:
        mcp_servers.mcp_server_update(server=server, **payload.dict())
    except mcp_servers.McpServerInvalid as exc:
        return _problems(request, "the MCP server is invalid", exc.problems)
    return _server_dict(_server_or_404(slug))


@router.delete("/mcp-servers/{slug}", response={204: None, **ERRORS}, auth=ADMIN_ONLY)
def mcp_server_delete(request: HttpRequest, slug: str) -> Any:
    mcp_servers.mcp_server_delete(server=_server_or_404(slug))
    return Status(204, None)


@router.post(
    "/mcp-servers/{slug}/refresh",
    response={200: McpToolListOut, **ERRORS},
    summary="Connect to the server now and store the tools it lists (may take seconds); "
    "502 with the server's error if it fails (the old tools stay)",
    auth=DESIGN,
)
def mcp_server_refresh(request: HttpRequest, slug: str) -> Any:
    server = _server_or_404(slug)
    try:
        mcp.mcp_server_list_tools(server)
    except mcp.McpServerError as exc:
        message = f"listing the tools of {server.name} failed: {redact(str(exc))}"
        return error_response(request, 502, "mcp_failed", message)
    return _tools(server)


@router.get("/mcp-servers/{slug}/tools", response={200: McpToolListOut, **ERRORS})
def mcp_server_tools(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The tools the last refresh listed, by name, as agents and tool nodes name them."""
    return _tools(_server_or_404(slug))


# --- knowledge bases ------------------------------------------------------------------------------


def _base_or_404(slug: str) -> KnowledgeBase:
    base = selectors.knowledge_base_get(slug=slug)
    if base is None:
        raise HttpError(404, f"no knowledge base {slug!r}")
    return base


def _base_dict(base: KnowledgeBase) -> dict[str, Any]:
    count = getattr(base, "document_count", None)
    return {
        "slug": base.slug,
        "name": base.name,
        "description": base.description,
        "document_count": base.documents.count() if count is None else count,
        "created_at": base.created_at.isoformat(),
    }


def _documents(base: KnowledgeBase) -> dict[str, Any]:
    rows = selectors.knowledge_document_list(base=base)[:DOCUMENTS_LISTED]
    items = [
        {
            "id": d.id,
            "title": d.title,
            "source": d.source,
            "created_at": d.created_at.isoformat(),
            "updated_at": d.updated_at.isoformat(),
        }
        for d in rows
    ]
    return {"items": items, "next_cursor": None}


@router.get("/knowledge", response={200: KnowledgeBaseListOut, **ERRORS})
def knowledge_base_list(request: HttpRequest) -> dict[str, Any]:
    items = [_base_dict(base) for base in selectors.knowledge_base_list()]
    return {"items": items, "next_cursor": None}


@router.post(
    "/knowledge",
    response={201: KnowledgeBaseOut, **ERRORS},
    summary="Create a knowledge base",
    auth=DESIGN,
)
def knowledge_base_create(request: HttpRequest, payload: KnowledgeBaseIn) -> Any:
    try:
        base = knowledge.knowledge_base_create(slug=payload.slug, name=payload.name)
    except knowledge.KnowledgeConflict as exc:
        raise HttpError(409, str(exc)) from None
    except knowledge.KnowledgeError as exc:
        details = [{"pointer": "/slug" if "slug" in str(exc) else "/name", "message": str(exc)}]
        return error_response(request, 422, "invalid", str(exc), details)
    return Status(201, _base_dict(base))


@router.get("/knowledge/{slug}", response={200: KnowledgeBaseOut, **ERRORS})
def knowledge_base_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _base_dict(_base_or_404(slug))


@router.delete("/knowledge/{slug}", response={204: None, **ERRORS}, auth=DESIGN)
def knowledge_base_delete(request: HttpRequest, slug: str) -> Any:
    """Deletes the base with all its documents."""
    knowledge.knowledge_base_delete(base=_base_or_404(slug))
    return Status(204, None)


@router.get("/knowledge/{slug}/documents", response={200: KnowledgeDocumentListOut, **ERRORS})
def knowledge_document_list(request: HttpRequest, slug: str) -> dict[str, Any]:
    """A base's documents by title (at most 500, without their bodies)."""
    return _documents(_base_or_404(slug))


@router.post(
    "/knowledge/{slug}/documents",
    response={200: KnowledgeDocumentListOut, **ERRORS},
    summary="Upload .md/.txt files (multipart, field 'documents', UTF-8, the upload page's "
    "limits); a file uploaded again replaces its document. Answers the base's documents",
    auth=DESIGN,
)
def knowledge_document_upload(
    request: HttpRequest, slug: str, documents: File[list[UploadedFile]]
) -> Any:
    """All or nothing on the form's checks (type, size, count, UTF-8, not empty): any file
    refused means none is added, and a 422 names each refused file under ``/documents``."""
    base = _base_or_404(slug)
    uploads: list[DjangoUploadedFile[bytes]] = list(documents)
    form = forms.KnowledgeUploadForm(data={}, files=MultiValueDict({"documents": uploads}))
    if not form.is_valid():
        return _upload_refused(request, [str(m) for m in form.errors.get("documents", [])])
    refused = []
    for text in form.cleaned_data["documents"]:
        try:
            knowledge.knowledge_document_add(
                base=base, title=text.title, body=text.body, source=f"upload:{text.name}"
            )
        except knowledge.KnowledgeError as exc:
            refused.append(f"{text.name}: {exc}")
    if refused:
        return _upload_refused(request, refused)
    return _documents(base)


def _upload_refused(request: HttpRequest, messages: list[str]) -> HttpResponse:
    details = [{"pointer": "/documents", "message": message} for message in messages]
    return error_response(request, 422, "invalid", "the upload is refused", details)
