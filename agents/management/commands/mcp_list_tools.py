"""`python manage.py mcp_list_tools [SLUG...]`: refresh the tool lists of MCP servers.

Without slugs, every enabled server. A server that fails keeps its previous tools and gets
its ``last_error``; the command goes on with the others and exits non-zero at the end.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.mcp import McpServerError, mcp_server_list_tools
from agents.models import McpServer


class Command(BaseCommand):
    help = "Connect to MCP servers and store the tools they list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="server slugs (default: every enabled one)")

    def handle(self, *args: Any, **options: Any) -> None:
        servers = McpServer.objects.all()
        servers = (
            servers.filter(slug__in=options["slugs"])
            if options["slugs"]
            else servers.filter(enabled=True)
        )
        missing = set(options["slugs"]) - {server.slug for server in servers}
        if missing:
            raise CommandError(f"no MCP server {', '.join(sorted(missing))}")
        failed = 0
        for server in servers:
            try:
                listed = mcp_server_list_tools(server)
            except McpServerError as exc:
                failed += 1
                self.stderr.write(f"{server.slug}: {exc}")
                continue
            self.stdout.write(f"{server.slug}: {', '.join(tool.name for tool in listed)}")
        if failed:
            raise CommandError(f"{failed} server(s) could not be listed")
