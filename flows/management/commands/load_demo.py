from django.core.management.base import BaseCommand, CommandParser

from flows.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo workspace (admin user, demo agents and flows). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password", help="admin password (default: generated once into .data/)"
        )
        parser.add_argument(
            "--if-changed",
            action="store_true",
            help="load nothing when the demo files are as the last load left them "
            "(what `make run` does at every start)",
        )

    def handle(self, *args: object, **options: str | bool | None) -> None:
        password = options.get("password")
        report = demo_load(
            password=password if isinstance(password, str) else None,
            if_changed=bool(options.get("if_changed")),
        )
        if report.skipped:
            self.stdout.write("demo: unchanged since the last load, not loaded again")
        else:
            saved = ", ".join(report.flows_saved) or "none changed"
            self.stdout.write(f"demo flows saved: {saved}")
        self.stdout.write(f"login: {report.username} / {report.password}")
