"""`python manage.py audit_verify`: seal pending audit rows, walk the whole chain, report.

Exit code 0 when every sealed row holds; 1 with the first broken row (a gap, a broken link or
an edited row) otherwise. The outcome is stored and shown on the audit page.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from agents.audit import audit_verify


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exit 1 at the first broken row."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-seal", action="store_true", help="check only rows already sealed")

    def handle(self, *args: Any, **options: Any) -> None:
        check = audit_verify(seal_first=not options["no_seal"])
        if check.ok:
            self.stdout.write(f"ok: {check.checked} rows, chain intact up to seq {check.up_to_seq}")
            return
        self.stderr.write(
            f"BROKEN at seq {check.broken_seq} (row id {check.broken_id}): {check.message}; "
            f"intact up to seq {check.up_to_seq}"
        )
        sys.exit(1)
