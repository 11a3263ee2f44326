"""Video fixtures: nginx-rtmp with the repository's config on free loopback ports, calling a
live app server back, and ffmpeg pushing a test pattern to it. Skipped, with the reason,
where nginx, its RTMP module or ffmpeg is not installed (CI installs them: .ci/run)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from core.settings import IngestSettings
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import LiveServer, start_server, stop_server
from tests.infra import ROOT, TestInfra, stop_process
from web import nginx
from web.embedded import free_port, port_open

# nginx asks about each publisher this often in the tests (the app's default is 10 s): a
# rotated key's publisher is cut off within a second or two.
TEST_UPDATE_SECONDS = 1


@pytest.fixture
async def room(make_user: Any, make_room: Any) -> dict[str, Any]:
    """A new host's room, not live yet: its stream key starts it."""
    room: dict[str, Any] = await make_room(await make_user("host"))
    return room


def need_ingest_tools() -> None:
    reason = nginx.missing()
    if reason is None and shutil.which("ffmpeg") is None:
        reason = "ffmpeg is not installed"
    if reason is not None:
        pytest.skip(f"{reason}; the ingest tests need `{nginx.INSTALL_HINT}`")


@dataclass
class Ingest:
    """nginx (RTMP in, HLS out) in front of its own app server."""

    server: LiveServer
    layout: nginx.NginxLayout
    records: Path
    rtmp_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    pushes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def publish_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def playlist_url(self, room_id: int) -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/room-{room_id}/index.m3u8"

    def push(self, key: str, seconds: float = 30) -> subprocess.Popen[bytes]:
        """ffmpeg pushing a 640x360 test pattern and a tone, in real time, for `seconds`,
        with a keyframe a second (the HLS fragment length)."""
        process = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
             "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
             "-f", "lavfi", "-i", "sine=frequency=440",
             "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast",
             "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac",
             "-f", "flv", self.publish_url(key)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pushes.append(process)
        return process

    def stop_pushes(self) -> None:
        for process in self.pushes:
            stop_process(process)
            if process.stderr is not None:
                process.stderr.close()
        self.pushes.clear()

    def error_log(self) -> str:
        path = self.layout.prefix / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="session")
def ingest(infra: TestInfra) -> Iterator[Ingest]:
    need_ingest_tools()
    rtmp_port, http_port = free_port(), free_port()
    (ROOT / ".data").mkdir(exist_ok=True)
    prefix = Path(tempfile.mkdtemp(prefix="livesell-nginx-", dir=ROOT / ".data"))
    records = prefix / "records"
    settings = dataclasses.replace(IngestSettings(), rtmp_port=rtmp_port, http_port=http_port,
                                   update_seconds=TEST_UPDATE_SECONDS, record_dir=str(records))
    env = {"INGEST_ENABLED": "1",
           "INGEST_RTMP_PORT": str(rtmp_port), "INGEST_HTTP_PORT": str(http_port),
           "INGEST_UPDATE_SECONDS": str(TEST_UPDATE_SECONDS), "INGEST_RECORD_DIR": str(records)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the server's log, kept by the child
        server = start_server(infra, env)
    layout = nginx.prepare(settings, prefix, server.url)
    process = subprocess.Popen(nginx.command(layout), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    started = Ingest(server, layout, records, rtmp_port, http_port, process)
    try:
        deadline = time.monotonic() + 10
        while not (port_open("127.0.0.1", rtmp_port) and port_open("127.0.0.1", http_port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{started.error_log()}")
            time.sleep(0.05)
        yield started
    finally:
        started.stop_pushes()
        stop_process(process)
        stop_server(server)
        # The error log is kept for a failed run: .data/livesell-nginx-*/logs/error.log
        shutil.rmtree(layout.hls_dir, ignore_errors=True)
        shutil.rmtree(records, ignore_errors=True)


@pytest.fixture
def ingest_pushes(ingest: Ingest) -> Iterator[Ingest]:
    """The ingest, with every push of the test stopped after it."""
    yield ingest
    ingest.stop_pushes()


async def playlist_ready(url: str) -> bool:
    """A playlist with at least one segment is served."""
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            response = await http.get(url)
        except httpx.HTTPError:
            return False
    return response.status_code == 200 and ".ts" in response.text


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Headless Debian Chromium (as tests/e2e), for the player."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    # Muted autoplay is allowed anyway; this makes it so whatever the build's policy.
    async with launch_chromium("--autoplay-policy=no-user-gesture-required") as browser:
        yield browser
