"""What the supervisor takes from its environment and prepares before anything starts.

Owns ``Config`` (port, data directory, external database and Redis URLs, settings module, the
demo's history), the secret files made once in the data directory (``ensure_secret_files``),
the bytecode written once for every process (``compile_sources``), and the steps worker's
pool size (``worker_concurrency``).
"""

from __future__ import annotations

import compileall
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controlroom.env import BASE_DIR

#: The running stack's DATABASE_URL and REDIS_URL, for ``manage.py`` (removed on stop).
RUNNING_ENV = "running.env"
DEFAULT_SETTINGS_MODULE = "controlroom.settings.dev"
#: The project's packages, compiled to bytecode before the Django processes start.
SOURCE_PACKAGES = ("controlroom", "agents", "flows")


@dataclass(frozen=True)
class Config:
    """What the supervisor takes from its environment."""

    data_dir: Path
    port: int
    database_url: str | None
    redis_url: str | None
    settings_module: str
    #: Run the demo seeder after start (``CONTROLROOM_DEMO_HISTORY``: "on", or "off").
    demo_history: bool = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        raw_port = environ.get("PORT") or "8000"
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise SystemExit(f"PORT must be a TCP port number, got {raw_port!r}")
        data_dir = Path(environ.get("CONTROLROOM_DATA_DIR") or BASE_DIR / ".data")
        history = (environ.get("CONTROLROOM_DEMO_HISTORY") or "on").strip().lower()
        if history not in ("on", "off"):
            raise SystemExit(f"CONTROLROOM_DEMO_HISTORY must be on or off, got {history!r}")
        return cls(
            data_dir=data_dir.expanduser().resolve(),
            port=int(raw_port),
            database_url=environ.get("DATABASE_URL") or None,
            redis_url=environ.get("REDIS_URL") or None,
            # As manage.py does: the dev settings unless the caller chose others.
            settings_module=environ.get("DJANGO_SETTINGS_MODULE") or DEFAULT_SETTINGS_MODULE,
            demo_history=history == "on",
        )

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def worker_concurrency() -> int:
    """Pool processes of the steps worker: one per core this process may run on. Steps wait
    on the outside world, but each pool process is a whole interpreter in memory; a deployment
    that wants more runs more workers (README, Scaling out)."""
    return max(1, len(os.sched_getaffinity(0)))


def compile_sources() -> None:
    """Write the bytecode of the project's packages that is missing or stale, once, before any
    Django process starts. Python does so itself on import, but not where
    PYTHONDONTWRITEBYTECODE is set (as on these machines): then each of the five Django
    processes of a start compiled every module again, seconds of CPU apiece. Quiet unless a
    file does not compile (the process importing it then reports the error)."""
    for package in SOURCE_PACKAGES:
        compileall.compile_dir(BASE_DIR / package, quiet=2)


def ensure_secret_files(data_dir: Path) -> None:
    """Create `secret_key` (Django) and, when `cryptography` is installed, `fernet_key` in
    `data_dir`, each once and readable by its owner only. Existing files are never replaced:
    sessions and encrypted secrets outlive restarts."""
    _write_once(data_dir / "secret_key", secrets.token_urlsafe(50))
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        return
    _write_once(data_dir / "fernet_key", Fernet.generate_key().decode())


def _write_once(path: Path, content: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(content + "\n")
