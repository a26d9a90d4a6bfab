"""`python manage.py set_secret NAME`: store a secret, its value read from stdin (never argv,
which other users of the machine can see in the process list and shells keep in history)."""

from __future__ import annotations

import getpass
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.secrets import SecretInvalid, SecretsNotConfigured, secret_set


class Command(BaseCommand):
    help = (
        "Create or replace secret NAME. The value is read from stdin (a prompt without echo on "
        "a terminal); one trailing newline is dropped. It is never printed."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--description", default="", help="what the secret is for")

    def handle(self, *args: Any, **options: Any) -> None:
        value = _read_value(options.get("stdin") or sys.stdin, options["name"])
        try:
            secret_set(name=options["name"], value=value, description=options["description"])
        except (SecretInvalid, SecretsNotConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"secret {options['name']!r} stored")


def _read_value(stream: TextIO, name: str) -> str:
    if stream.isatty():
        return getpass.getpass(f"value for {name}: ", stream=sys.stderr)
    raw = stream.read()
    return raw[:-1] if raw.endswith("\n") else raw
