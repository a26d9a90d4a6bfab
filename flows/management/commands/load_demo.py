from django.core.management.base import BaseCommand, CommandParser

from flows.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo workspace (admin user, demo agents and flows). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password", help="admin password (default: generated once into .data/)"
        )

    def handle(self, *args: object, **options: str | None) -> None:
        report = demo_load(password=options.get("password"))
        saved = ", ".join(report.flows_saved) or "none changed"
        self.stdout.write(f"demo flows saved: {saved}")
        self.stdout.write(f"login: {report.username} / {report.password}")
