"""The supervisor's children: each a long-running process, leader of its own process group.

Owns ``Child`` (starting one with its log rotated, signalling its main process or its whole
group, killing what a dead one left behind), ``ChildDied`` (a child that ended unwanted, with
the tail of its log), ``stop_children`` (the warm shutdown: SIGTERM to each main process, then
SIGKILL to what outlives the grace period), and the supervisor's terminal output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controlroom import devstack
from controlroom.env import BASE_DIR


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


def _say(message: str) -> None:
    print(message, flush=True)
