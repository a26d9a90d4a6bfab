"""`python manage.py rotate_secrets`: re-encrypt every secret with the primary key.

Rotation: put the new key first in CONTROLROOM_FERNET_KEYS (keeping the old ones after it),
restart, run this, then drop the old keys.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.secrets import SecretsNotConfigured, SecretUnreadable, secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of CONTROLROOM_FERNET_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = secrets_rotate()
        except (SecretUnreadable, SecretsNotConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"re-encrypted {count} secret(s) with the primary key")
