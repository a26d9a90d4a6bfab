"""Registering MCP servers: admin configuration of what the workers may connect to.

``agents.mcp`` connects and lists tools; this module only writes the ``McpServer`` rows. A
server's ``category`` is set here, by an admin, and is the category of all its tools: what the
server says about a tool never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from agents.agents import Problem
from agents.audit import audit_record
from agents.models import McpServer, Secret

CATEGORIES = ("read", "write", "outbound_message", "payment")
MAX_ARGS = 64


class McpServerInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def _checked(
    *,
    name: str,
    transport: str,
    command: str,
    args: Sequence[str],
    url: str,
    category: str,
    headers_secret: str | None,
) -> Secret | None:
    """The stored secret ``headers_secret`` names (None when none is named), once the server's
    settings are all valid; raises ``McpServerInvalid`` listing every problem otherwise."""
    problems: list[Problem] = []
    if not name.strip():
        problems.append(Problem("name", "a server needs a name"))
    problems += _transport_problems(
        transport=transport, command=command, args=args, url=url, headers_secret=headers_secret
    )
    if len(args) > MAX_ARGS:
        problems.append(Problem("args", f"at most {MAX_ARGS} arguments"))
    if category not in CATEGORIES:
        problems.append(Problem("category", f"one of {', '.join(CATEGORIES)}"))
    secret = None
    if headers_secret:
        secret = Secret.objects.defer("ciphertext").filter(name=headers_secret).first()
        if secret is None:
            problems.append(Problem("headers_secret", f"there is no secret {headers_secret!r}"))
    if problems:
        raise McpServerInvalid(problems)
    return secret


def _transport_problems(
    *, transport: str, command: str, args: Sequence[str], url: str, headers_secret: str | None
) -> list[Problem]:
    """What the settings that depend on ``transport`` get wrong: a stdio server has a command
    and neither URL nor credential; an HTTP server has an http(s) URL and no command."""
    problems: list[Problem] = []
    if transport == McpServer.Transport.STDIO:
        if not command.strip():
            problems.append(Problem("command", "a stdio server needs the command that starts it"))
        if url:
            problems.append(Problem("url", "a stdio server has no URL"))
        if headers_secret:
            problems.append(Problem("headers_secret", "only HTTP servers send a credential"))
    elif transport == McpServer.Transport.HTTP:
        if not url.startswith(("http://", "https://")):
            problems.append(Problem("url", "a streamable-HTTP server needs an http(s) URL"))
        if command or args:
            problems.append(Problem("command", "an HTTP server has no command or arguments"))
    else:
        problems.append(Problem("transport", "stdio or http"))
    return problems


def mcp_server_create(
    *,
    slug: str,
    name: str,
    transport: str,
    command: str = "",
    args: Sequence[str] = (),
    url: str = "",
    category: str = "read",
    headers_secret: str | None = None,
    enabled: bool = True,
) -> McpServer:
    """Register a server (its tools are listed by ``agents.mcp.mcp_server_list_tools``).
    Raises ``McpServerInvalid`` (a taken slug included)."""
    if slug == "new":
        raise McpServerInvalid([Problem("slug", "'new' is reserved; choose another slug")])
    secret = _checked(
        name=name,
        transport=transport,
        command=command,
        args=args,
        url=url,
        category=category,
        headers_secret=headers_secret,
    )
    try:
        with transaction.atomic():
            server = McpServer.objects.create(
                slug=slug,
                name=name.strip(),
                transport=transport,
                command=command.strip(),
                args=list(args),
                url=url,
                category=category,
                headers_secret=secret,
                enabled=enabled,
            )
            _audit("mcp_server.created", server)
            return server
    except IntegrityError:
        raise McpServerInvalid([Problem("slug", f"a server {slug!r} exists already")]) from None


def mcp_server_update(
    *,
    server: McpServer,
    name: str,
    transport: str,
    command: str,
    args: Sequence[str],
    url: str,
    category: str,
    headers_secret: str | None,
    enabled: bool,
) -> McpServer:
    """Change a server's configuration (not its slug: tools are named ``mcp:<slug>/<tool>``).
    Its listed tools stay until the next refresh; a new category applies to them at once."""
    secret = _checked(
        name=name,
        transport=transport,
        command=command,
        args=args,
        url=url,
        category=category,
        headers_secret=headers_secret,
    )
    with transaction.atomic():
        McpServer.objects.filter(pk=server.pk).update(
            name=name.strip(),
            transport=transport,
            command=command.strip(),
            args=list(args),
            url=url,
            category=category,
            headers_secret=secret,
            enabled=enabled,
        )
        server.refresh_from_db()
        _audit("mcp_server.updated", server)
    return server


def _audit(action: str, server: McpServer) -> None:
    audit_record(
        kind="config",
        action=action,
        subject=server.slug,
        data={
            "transport": server.transport,
            "command": server.command,
            "url": server.url,
            "category": server.category,
            "enabled": server.enabled,
        },
    )


def mcp_server_delete(*, server: McpServer) -> None:
    """Delete a server and its listed tools, audited as ``mcp_server.deleted``. Flow versions
    that call ``mcp:<slug>/<tool>`` fail that call from now on (the tool is unknown), as they
    do when a refresh stops listing a tool."""
    with transaction.atomic():
        _audit("mcp_server.deleted", server)
        server.delete()
