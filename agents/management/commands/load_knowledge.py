"""`python manage.py load_knowledge BASE FILE...`: add .md/.txt files to a knowledge base.

The base is created if missing. Loading a file again replaces the document loaded from the
same path instead of adding a second one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.knowledge import KnowledgeError, knowledge_base_ensure, knowledge_file_load


class Command(BaseCommand):
    help = "Add Markdown or text files to knowledge base BASE (created if missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("base", help="knowledge base slug")
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--name", default="", help="name for a new knowledge base")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            base = knowledge_base_ensure(slug=options["base"], name=options["name"])
            for path in options["files"]:
                if not path.is_file():
                    raise CommandError(f"{path}: no such file")
                document = knowledge_file_load(base=base, path=path)
                self.stdout.write(f"{base.slug}: {document.title} ({path})")
        except (KnowledgeError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
