"""`python manage.py set_secret NAME`: store a secret, its value read from stdin (never argv,
which other users of the machine can see in the process list and shells keep in history).

`--allow-host PATTERN` (repeatable) and `--connection SLUG` (repeatable) set where it may be
sent, replacing the current list of that kind; `--keep-value` changes only those (no value is
read). Whoever runs manage.py is an operator, so this is an admin path."""

from __future__ import annotations

import getpass
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.secrets import (
    SecretInvalid,
    SecretMissing,
    SecretsNotConfigured,
    secret_bind,
    secret_set,
)


class Command(BaseCommand):
    help = (
        "Create or replace secret NAME. The value is read from stdin (a prompt without echo on "
        "a terminal); one trailing newline is dropped. It is never printed."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--description", default=None, help="what the secret is for")
        parser.add_argument(
            "--allow-host",
            action="append",
            dest="allowed_hosts",
            metavar="PATTERN",
            help="a host it may be sent to: api.example.com, *.example.com, host:port "
            "(repeatable; replaces the current list)",
        )
        parser.add_argument(
            "--connection",
            action="append",
            dest="connections",
            metavar="SLUG",
            help="a provider connection it may be sent through, as it is now "
            "(repeatable; replaces the current list)",
        )
        parser.add_argument(
            "--keep-value",
            action="store_true",
            help="change only where it may be sent (and the description); read no value",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        binding = {
            "allowed_hosts": options["allowed_hosts"],
            "connections": options["connections"],
        }
        try:
            if options["keep_value"]:
                secret_bind(name=name, description=options["description"], **binding)
                self.stdout.write(f"secret {name!r}: where it may be sent updated")
                return
            value = _read_value(options.get("stdin") or sys.stdin, name)
            secret_set(name=name, value=value, description=options["description"] or "", **binding)
        except (SecretInvalid, SecretMissing, SecretsNotConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"secret {name!r} stored")


def _read_value(stream: TextIO, name: str) -> str:
    if stream.isatty():
        return getpass.getpass(f"value for {name}: ", stream=sys.stderr)
    raw = stream.read()
    return raw[:-1] if raw.endswith("\n") else raw
