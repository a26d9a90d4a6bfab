#!/usr/bin/env python
import os
import sys
from pathlib import Path


def _running_stack_env() -> None:
    """Without DATABASE_URL / REDIS_URL, use the stack a running ``make run`` started."""
    data_dir = Path(os.environ.get("CONTROLROOM_DATA_DIR") or Path(__file__).parent / ".data")
    running = data_dir / "running.env"
    if "DATABASE_URL" in os.environ or not running.exists():
        return
    for line in running.read_text().splitlines():
        key, _, value = line.partition("=")
        if key in {"DATABASE_URL", "REDIS_URL"}:
            os.environ.setdefault(key, value)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlroom.settings.dev")
    _running_stack_env()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
