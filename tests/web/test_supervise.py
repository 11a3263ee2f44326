"""The supervisor of `livesell run`: a child that dies comes back after a growing pause and the
others keep running; stopping ends every child and everything they started."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.infra import ROOT
from web.supervise import ChildSpec, Supervisor

CRASHER = ChildSpec("crasher", ["sh", "-c", "exit 3"])
STEADY = ChildSpec("steady", ["sh", "-c", "sleep 600"])
# A child with a process of its own, as a Celery worker has its pool.
WITH_POOL = ChildSpec("pooled", ["sh", "-c", "sleep 600 & sleep 600; wait"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_supervisor(tmp_path: Path, specs: list[ChildSpec], lines: list[str],
                    clock: FakeClock) -> Supervisor:
    return Supervisor(specs, tmp_path / "logs", cwd=ROOT, say=lines.append, clock=clock)


@contextlib.contextmanager
def running(tmp_path: Path, specs: list[ChildSpec],
            ) -> Iterator[tuple[Supervisor, list[str], FakeClock]]:
    """A started supervisor of these children, what it says, and its clock; stopped at the
    end."""
    lines: list[str] = []
    clock = FakeClock()
    supervisor = make_supervisor(tmp_path, specs, lines, clock)
    supervisor.start()
    try:
        yield supervisor, lines, clock
    finally:
        supervisor.stop()
        supervisor.close()


def poll_until_said(supervisor: Supervisor, lines: list[str], count: int) -> None:
    """Poll (as `livesell run` does) until the supervisor has said `count` lines."""
    deadline = time.monotonic() + 20
    while len(lines) < count:
        assert time.monotonic() < deadline, lines
        supervisor.poll()
        time.sleep(0.01)


def descendants(supervisor: Supervisor, name: str) -> list[psutil.Process]:
    pid = supervisor.pids()[name]
    assert pid is not None
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


def poll_until_descendants(supervisor: Supervisor, name: str, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 20
    while len(found := descendants(supervisor, name)) < count:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return found


def test_a_dead_child_is_restarted_after_a_doubling_pause_and_the_others_keep_running(tmp_path):
    # given a child that dies at once beside one that runs
    with running(tmp_path, [CRASHER, STEADY]) as (supervisor, lines, clock):
        steady_pid = supervisor.pids()["steady"]
        # when it dies, then one line says which, with what code and when it comes back
        poll_until_said(supervisor, lines, 1)
        log = tmp_path / "logs" / "crasher.log"
        assert lines == [f"crasher exited with code 3; restarting in 1 s (log: {log})"]
        assert supervisor.pids()["crasher"] is None

        # and it is not started again before its pause is over
        clock.now += 0.5
        supervisor.poll()
        assert supervisor.pids()["crasher"] is None
        clock.now += 0.5
        supervisor.poll()
        assert supervisor.pids()["crasher"] is not None

        # when it keeps dying, then the pause doubles up to 30 s
        pauses = []
        for said in range(2, 8):
            poll_until_said(supervisor, lines, said)
            pause = float(lines[-1].split("restarting in ")[1].split(" s")[0])
            pauses.append(pause)
            clock.now += pause
            supervisor.poll()
        assert pauses == [2, 4, 8, 16, 30, 30]

        # and the other child ran on untouched all along
        assert supervisor.pids()["steady"] == steady_pid
        assert psutil.Process(steady_pid).is_running()


def test_a_child_that_ran_a_while_comes_back_after_the_shortest_pause(tmp_path):
    # given a child that has already died quickly twice (its next pause would be 4 s)
    with running(tmp_path, [CRASHER]) as (supervisor, lines, clock):
        for said in (1, 2):
            poll_until_said(supervisor, lines, said)
            clock.now += 10
            supervisor.poll()

        # when it dies after having been up for a minute
        clock.now += 60
        poll_until_said(supervisor, lines, 3)

        # then the backoff starts over
        assert "restarting in 1 s" in lines[-1], lines


def test_a_child_killed_by_a_signal_is_reported_and_what_it_started_goes_with_it(tmp_path):
    # given a child with a process of its own (a worker and its pool)
    with running(tmp_path, [WITH_POOL]) as (supervisor, lines, clock):
        family = poll_until_descendants(supervisor, "pooled", 3)
        old_pid = family[0].pid

        # when the child is killed with SIGKILL
        os.kill(old_pid, signal.SIGKILL)
        poll_until_said(supervisor, lines, 1)

        # then the line names the signal, and the orphaned pool is gone too
        assert lines[0].startswith("pooled exited with code -9 (SIGKILL); restarting in 1 s")
        _gone, alive = psutil.wait_procs(family, timeout=10)
        assert alive == []

        # and it comes back with a new process after its pause
        clock.now += 1
        supervisor.poll()
        assert supervisor.pids()["pooled"] not in (None, old_pid)


def test_stop_ends_every_child_and_what_it_started(tmp_path):
    # given running children, one with a process of its own, and one waiting to restart
    lines: list[str] = []
    clock = FakeClock()
    supervisor = make_supervisor(tmp_path, [STEADY, WITH_POOL, CRASHER], lines, clock)
    supervisor.start()
    family = [*descendants(supervisor, "steady"), *poll_until_descendants(supervisor, "pooled", 3)]
    poll_until_said(supervisor, lines, 1)

    # when the supervisor stops
    supervisor.stop()
    supervisor.close()

    # then nothing is left, and nothing is restarted afterwards
    _gone, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []
    clock.now += 60
    supervisor.poll()
    assert supervisor.pids() == {"steady": None, "pooled": None, "crasher": None}


def test_stop_kills_a_child_that_ignores_sigterm_after_the_grace_period(tmp_path):
    # given a child that ignores SIGTERM
    stubborn = ChildSpec("stubborn", [
        sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(600)"])
    lines: list[str] = []
    supervisor = make_supervisor(tmp_path, [stubborn], lines, FakeClock())
    supervisor.start()
    child = descendants(supervisor, "stubborn")[0]
    log = tmp_path / "logs" / "stubborn.log"
    deadline = time.monotonic() + 20
    while b"ready" not in log.read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.01)

    # when the supervisor stops with a short grace period
    supervisor.stop(grace=0.2)
    supervisor.close()

    # then the child is killed anyway
    _gone, alive = psutil.wait_procs([child], timeout=10)
    assert alive == []
