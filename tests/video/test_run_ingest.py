"""`livesell run` starts nginx for the ingest when it is installed, and says in one line how
to install it when it is not."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from core.settings import load_settings
from tests.cli_run import interrupt, start_run
from tests.infra import TestInfra
from tests.video.conftest import need_ingest_tools
from web import cli, nginx
from web.embedded import free_port, port_open
from web.live_video import room_video_boot


@pytest.mark.slow
def test_run_starts_nginx_for_the_ingest_and_stops_it(infra: TestInfra, tmp_path: Path) -> None:
    need_ingest_tools()
    port, rtmp_port, http_port = free_port(), free_port(), free_port()
    env = {**os.environ, **infra.env(), "INGEST_ENABLED": "1", "LIVESELL_DATA_DIR": str(tmp_path),
           "INGEST_RTMP_PORT": str(rtmp_port), "INGEST_HTTP_PORT": str(http_port)}
    process, output = start_run(
        env, port, "--no-workers",
        ready=lambda: port_open("127.0.0.1", rtmp_port) and port_open("127.0.0.1", http_port),
        explain=lambda: (tmp_path / "nginx" / "logs" / "error.log").read_text())
    children: list[psutil.Process] = []
    try:
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("nginx" in " ".join(child.cmdline()) for child in children)
        assert f"rtmp://127.0.0.1:{rtmp_port}/live" in "".join(output)
        assert (tmp_path / "nginx" / "nginx.conf").exists()
    finally:
        interrupt(process)
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == []


def test_without_nginx_run_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(nginx, "missing", lambda: "nginx is not installed")
    # (set here so that the test's end takes back what ingest_children sets)
    monkeypatch.setenv("INGEST_ENABLED", "1")

    children = cli.ingest_children("http://127.0.0.1:8000")

    assert children == []
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and nginx.INSTALL_HINT in said[0]
    # and the app's children do not send viewers looking for a stream
    assert os.environ["INGEST_ENABLED"] == "0"
    assert room_video_boot(load_settings(), 7, False)["hls_url"] is None
