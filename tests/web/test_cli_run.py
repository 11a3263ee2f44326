"""`livesell run` starts the web app, a Celery worker and the scheduler, and Ctrl-C stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tests.infra import ROOT, TestInfra
from web.embedded import free_port


@pytest.mark.slow
def test_run_starts_the_stack_and_ctrl_c_stops_every_process(infra: TestInfra, tmp_path):
    # given the servers of this test run
    port = free_port()
    env = {**os.environ, **infra.env(), "LIVESELL_DATA_DIR": str(tmp_path)}

    # when `livesell run` starts
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "run", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while not any("Ctrl-C stops everything" in line for line in output):
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(output)
            output.append(line)
            assert time.monotonic() < deadline, "".join(output)
        health = None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        children = psutil.Process(process.pid).children(recursive=True)

        # then it serves, printed where to go and how to log in, and runs worker and scheduler
        assert health is not None and health.status_code == 200, "".join(output)
        text = "".join(output)
        assert f"http://127.0.0.1:{port}/host" in text and "host@livesell.local" in text
        commands = [" ".join(child.cmdline()) for child in children]
        assert any("web.cli serve" in c for c in commands)
        assert any("celery" in c and " worker" in c for c in commands)
        assert any("celery" in c and " beat" in c for c in commands)
    finally:
        # when Ctrl-C is pressed
        process.send_signal(signal.SIGINT)
        process.wait(60)
        if process.stdout is not None:
            process.stdout.close()

    # then every process it started is gone
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == [], [p.pid for p in alive]
    assert process.returncode == 0
