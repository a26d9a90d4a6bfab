from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from controlroom.startup import migrations_pending


class Command(BaseCommand):
    help = (
        "What `make run` does to the database at each start, in one process: migrate when "
        "migrations are pending, then load the demo unless it is unchanged, and create an "
        "empty STATIC_ROOT where static files are served from the finders (dev)."
    )
    # Django's system checks run here, once per start (before the command); the Celery
    # workers `make run` starts next skip them.

    def handle(self, *args: object, **options: object) -> None:
        if migrations_pending():
            call_command(
                "migrate",
                interactive=False,
                skip_checks=True,  # they ran before this command
                stdout=self.stdout,
                stderr=self.stderr,
            )
        else:
            self.stdout.write("migrations: none pending")
        # By name, as the supervisor ran it before: the demo belongs to the flows app.
        call_command("load_demo", if_changed=True, stdout=self.stdout, stderr=self.stderr)
        # With the finders on, WhiteNoise serves static/ as it is and STATIC_ROOT (filled only
        # by collectstatic) stays empty; a missing one would make every server process warn
        # "No directory at: …". Without the finders (prod) a missing root is a real problem
        # and is left to warn.
        if settings.WHITENOISE_USE_FINDERS:
            Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
