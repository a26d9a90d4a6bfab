"""`make run`: one process that owns the whole local product and stops all of it.

Run as `python -m controlroom.supervisor`. It prepares `.data/` (secret keys made once),
starts an embedded PostgreSQL and Redis unless `DATABASE_URL` / `REDIS_URL` name external ones,
writes the project's bytecode once for every process to share, brings the database up to date
in one short process (`manage.py prepare_stack`: migrations only when some are pending, the
demo only when its files changed), starts uvicorn, a Celery worker for steps (a pool process
per core) and a Celery worker for control tasks (the reconciler, sealer, ROI fold, dispatch,
deliveries: recovery never queues behind steps) that also runs the one Celery beat, as children
(each in its own process group, output in `.data/logs/`; the control worker once the web server
answers), and waits for the web server before printing its URL.

It keeps everything it owns up: a child that exits, and the embedded Redis or PostgreSQL when
they stop answering, are restarted with a growing pause. The embedded Redis keeps an
append-only file synced every second, so a crash loses at most a second of messages (which
the reconciler re-publishes from PostgreSQL). On Ctrl-C, SIGTERM or SIGHUP it stops every
child gracefully — SIGTERM to each child's main process, so the workers finish the steps they
are running (a warm shutdown) within `CONTROLROOM_STOP_GRACE_SECONDS` (30), then SIGKILL to
what is left (its steps are recovered by the reconciler) — then Redis and PostgreSQL, and
exits. A lock file keeps a second supervisor off the same data directory.

The package: ``config`` (``Config`` and what is prepared before anything starts), ``children``
(a child process and its process group, and stopping them all) and ``core`` (``Supervisor``
and ``main``); ``__main__`` runs ``main``.
"""

from controlroom.supervisor.children import Child, ChildDied, stop_children
from controlroom.supervisor.config import (
    DEFAULT_SETTINGS_MODULE,
    RUNNING_ENV,
    SOURCE_PACKAGES,
    Config,
    compile_sources,
    ensure_secret_files,
    worker_concurrency,
)
from controlroom.supervisor.core import (
    MAX_RESTARTS,
    RESTART_WINDOW,
    STOP_GRACE_SECONDS,
    WEB_READY_TIMEOUT_SECONDS,
    Stop,
    Supervisor,
    main,
)

__all__ = [
    "DEFAULT_SETTINGS_MODULE",
    "MAX_RESTARTS",
    "RESTART_WINDOW",
    "RUNNING_ENV",
    "SOURCE_PACKAGES",
    "STOP_GRACE_SECONDS",
    "WEB_READY_TIMEOUT_SECONDS",
    "Child",
    "ChildDied",
    "Config",
    "Stop",
    "Supervisor",
    "compile_sources",
    "ensure_secret_files",
    "main",
    "stop_children",
    "worker_concurrency",
]
