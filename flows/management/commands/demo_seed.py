from django.core.management.base import BaseCommand, CommandParser

from flows.demo.seed import DAYS, demo_seed


class Command(BaseCommand):
    help = (
        "Give the demo flows a living history: today's runs on the workers and DAYS days of "
        "past runs executed with the engine's clock set back, approvals decided by demo "
        "approvers, outcomes reported. `make run` runs it once after the first start; "
        "resumable, and a no-op once done or after demo_remove (unless --force)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=DAYS, help=f"days of history ({DAYS})")
        parser.add_argument(
            "--force", action="store_true", help="seed even if done before (adds runs)"
        )

    def handle(self, *args: object, **options: object) -> None:
        days = options["days"]
        assert isinstance(days, int)
        if days < 0 or days > 366:
            self.stderr.write("--days must be between 0 and 366")
            raise SystemExit(2)
        report = demo_seed(days=days, force=bool(options["force"]), say=self.stdout.write)
        if report.skipped:
            self.stdout.write(f"demo history: nothing to do, {report.skipped}")
            return
        decided = ", ".join(f"{n} {kind}" for kind, n in sorted(report.decisions.items()))
        self.stdout.write(
            f"demo history: {report.today} runs today, {report.past} past runs "
            f"({report.existing} already there), decisions: {decided or 'none'}, "
            f"{report.outcomes} outcomes"
            + (f", {report.errors} runs not seeded (see above)" if report.errors else "")
        )
