from django.core.management.base import BaseCommand

from flows.demo.remove import demo_remove


class Command(BaseCommand):
    help = (
        "Remove the demo workspace's data: the demo flows and everything they ran, and the "
        "demo approvers. `make run` then loads no demo; `manage.py load_demo` brings it back."
    )

    def handle(self, *args: object, **options: object) -> None:
        report = demo_remove()
        flows = ", ".join(report.flows) or "none"
        self.stdout.write(
            f"demo removed: flows {flows}; {report.runs} runs; {report.users} demo users"
        )
