"""`livesell run` as a child process for the tests that start it: started once it has printed
its banner and is ready, and stopped with Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from tests.infra import ROOT


def start_run(env: dict[str, str], port: int, *options: str,
              ready: Callable[[], bool] | None = None,
              explain: Callable[[], str] | None = None,
              ) -> tuple[subprocess.Popen[str], list[str]]:
    """`livesell run` on `port`, once it has printed its banner and is ready (by default: it
    answers /healthz). `explain` says why it is not ready when the minute runs out (by default
    what it printed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "run", *options, "--port", str(port)], cwd=ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    try:
        while not any("Ctrl-C stops everything" in line for line in output):
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(output)
            output.append(line)
            assert time.monotonic() < deadline, "".join(output)
        while not (ready or (lambda: healthy(port)))():
            assert time.monotonic() < deadline, (explain or (lambda: "".join(output)))()
            time.sleep(0.1)
    except BaseException:
        # A start that failed stops what it started (its children stop with it on SIGINT).
        interrupt(process)
        raise
    return process, output


def interrupt(process: subprocess.Popen[str]) -> None:
    """Ctrl-C: `livesell run` stops its children and exits."""
    process.send_signal(signal.SIGINT)
    process.wait(60)
    if process.stdout is not None:
        process.stdout.close()


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
