"""Keep `livesell run`'s children (web app, Celery worker, scheduler) alive, and stop them all.

A child that dies is started again after a pause that doubles with each quick death (1 s,
2 s, 4 s … up to 30 s), so a child that cannot start does not spin, and one that ran a
while before dying comes back at once. The others keep running meanwhile: a crashed worker
must not take the web app down with it.

Each child leads its own process group (a Celery worker forks a pool), so a signal reaches
the child and everything it started, and the terminal's Ctrl-C reaches only `livesell run`,
which stops the children in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

# The first restart waits a second: long enough not to hammer a server that is down, short
# enough that a killed worker is back before anyone notices.
FIRST_BACKOFF_SECONDS = 1.0
# Doubling stops here: a child that keeps failing is retried twice a minute, not forgotten.
MAX_BACKOFF_SECONDS = 30.0
# A child that stayed up this long was healthy; its next death starts the backoff over.
STABLE_AFTER_SECONDS = 60.0
# Celery's warm shutdown finishes the tasks in hand; uvicorn closes its connections.
STOP_GRACE_SECONDS = 15.0


@dataclass
class ChildSpec:
    name: str
    args: list[str]


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    log: IO[bytes] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, specs: list[ChildSpec], log_dir: Path, *, cwd: Path,
                 say: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 first_backoff: float = FIRST_BACKOFF_SECONDS,
                 max_backoff: float = MAX_BACKOFF_SECONDS,
                 stable_after: float = STABLE_AFTER_SECONDS) -> None:
        self._children = [_Child(spec) for spec in specs]
        self._log_dir = log_dir
        self._cwd = cwd
        self._say = say
        self._clock = clock
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after

    def pids(self) -> dict[str, int | None]:
        """The running process of each child by name (None while it waits to restart)."""
        return {c.spec.name: c.process.pid if c.process is not None else None
                for c in self._children}

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def start(self) -> None:
        for child in self._children:
            self._spawn(child)

    def poll(self) -> None:
        """Notice children that died and start the ones whose pause is over. Never blocks."""
        now = self._clock()
        for child in self._children:
            if child.process is not None:
                returncode = _exited(child.process)
                if returncode is None:
                    continue
                self._bury(child)
                if now - child.started_at >= self._stable_after:
                    child.quick_deaths = 0
                delay = min(self._first_backoff * 2 ** child.quick_deaths, self._max_backoff)
                child.quick_deaths += 1
                child.restart_at = now + delay
                self._say(f"{child.spec.name} exited with {_describe(returncode)}; restarting "
                          f"in {delay:g} s (log: {self.log_path(child.spec.name)})")
            elif child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every child's group (last started first), wait, then SIGKILL what is left."""
        running = [(c, c.process) for c in reversed(self._children) if c.process is not None]
        for _child, process in running:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child, process in running:
            while _exited(process) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            self._bury(child)
        for child in self._children:
            child.restart_at = None

    def _spawn(self, child: _Child) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        if child.log is None:
            child.log = open(self.log_path(child.spec.name), "ab")  # noqa: SIM115 - kept open
        child.process = subprocess.Popen(child.spec.args, cwd=self._cwd, stdout=child.log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        child.started_at = self._clock()
        child.restart_at = None

    def _bury(self, child: _Child) -> None:
        """Kill what is left of the child's group (a pool whose parent died), then reap it.

        Called while the child is still unreaped (or alive), so its pid still names its
        group and cannot have been given to another process.
        """
        process = child.process
        if process is None:  # never started, or buried already
            return
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        child.process = None

    def close(self) -> None:
        for child in self._children:
            if child.log is not None:
                child.log.close()
                child.log = None


def _exited(process: subprocess.Popen[bytes]) -> int | None:
    """The exit status of a child that has ended, without reaping it (see `_bury`)."""
    if process.returncode is not None:
        return process.returncode
    result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if result is None or result.si_pid == 0:
        return None
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return -result.si_status  # killed by a signal, as subprocess reports it


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already empty
        os.killpg(pid, signum)


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"code {returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"code {returncode}"
    return f"code {returncode}"
