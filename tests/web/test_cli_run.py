"""`livesell run` starts the web app, a Celery worker and the scheduler, keeps them up, and
Ctrl-C or SIGTERM stops them."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import psutil
import pytest

from tests.cli_run import healthy, interrupt, start_run
from tests.infra import TestInfra
from web.embedded import free_port


@pytest.mark.slow
def test_run_starts_the_stack_and_ctrl_c_stops_every_process(infra: TestInfra, tmp_path):
    # given the servers of this test run
    port = free_port()
    env = {**os.environ, **infra.env(), "LIVESELL_DATA_DIR": str(tmp_path)}

    # when `livesell run` starts (and answers /healthz)
    process, output = start_run(env, port)
    try:
        children = psutil.Process(process.pid).children(recursive=True)

        # then it serves, printed where to go and how to log in, and runs worker and scheduler
        text = "".join(output)
        assert f"http://127.0.0.1:{port}/host" in text and "host@livesell.local" in text
        commands = [" ".join(child.cmdline()) for child in children]
        assert any("web.cli serve" in c for c in commands)
        assert any("celery" in c and " worker" in c for c in commands)
        assert any("celery" in c and " beat" in c for c in commands)
    finally:
        # when Ctrl-C is pressed
        interrupt(process)

    # then every process it started is gone
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == [], [p.pid for p in alive]
    assert process.returncode == 0


def child_named(run: psutil.Process, *words: str) -> psutil.Process | None:
    for child in run.children():
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:  # a child that died and is not reaped yet
            continue
        if all(word in command for word in words):
            return child
    return None


@pytest.mark.slow
def test_run_restarts_a_killed_worker_keeps_serving_and_sigterm_stops_every_process(
        infra: TestInfra, tmp_path: Path):
    # given `livesell run` with no SECRET_KEY of its own
    port = free_port()
    env = {**os.environ, **infra.env(), "LIVESELL_DATA_DIR": str(tmp_path)}
    del env["SECRET_KEY"]
    process, output = start_run(env, port)
    try:
        run = psutil.Process(process.pid)
        web, worker, beat = (child_named(run, "web.cli serve"), child_named(run, "celery", " worker"),
                             child_named(run, "celery", " beat"))
        assert web is not None and worker is not None and beat is not None

        # then it made a private random key and its children sign with it
        key_file = tmp_path / "secret_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 32
        assert web.environ()["SECRET_KEY"] == key and worker.environ()["SECRET_KEY"] == key

        # when the Celery worker is killed (with its pool)
        old_worker = [worker, *worker.children(recursive=True)]
        worker.kill()

        # then a new worker comes back, and the web app answers all along
        deadline = time.monotonic() + 60
        while (new_worker := child_named(run, "celery", " worker")) is None \
                or new_worker.pid == worker.pid:
            assert healthy(port)
            assert time.monotonic() < deadline, "the worker did not come back"
            time.sleep(0.1)
        assert healthy(port)
        _gone, alive = psutil.wait_procs(old_worker, timeout=20)
        assert alive == [], [p.pid for p in alive]
        assert web.is_running() and beat.is_running()
        assert child_named(run, "web.cli serve") == web and child_named(run, "celery", " beat") == beat
        children = run.children(recursive=True)
    finally:
        # when `livesell run` gets SIGTERM (as from `kill` or a service manager)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
        output.append(rest)

    # then it said what happened, and every process it started is gone
    text = "".join(output)
    assert "worker exited with code -9 (SIGKILL); restarting in 1 s" in text, text
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == [], [p.pid for p in alive]
    assert process.returncode == 0, text
