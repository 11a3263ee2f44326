"""Short videos: the upload streamed to disk and checked, the transcode into an HLS ladder
(720p, 360p, a master playlist, a poster), and its status, on generated clips."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.context import Services
from core.settings import Settings
from live import videos
from live.models import ShortVideo
from tests.conftest import poll_until
from tests.infra import ROOT
from tests.video.clips import make_clip
from web.app import create_app

CLIP_SECONDS = 5.0


@pytest.fixture(autouse=True)
def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg is not installed; the video tests need `apt-get install ffmpeg`")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "five.mp4", seconds=CLIP_SECONDS)


def _layout(settings: Settings) -> videos.MediaLayout:
    return videos.MediaLayout.of(settings.video)


def _uploads(settings: Settings) -> list[str]:
    folder = _layout(settings).uploads
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def _video_count(services: Services) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ShortVideo)) or 0)


async def _upload(client: httpx.AsyncClient, host: Any, content: Any,
                  content_type: str = "video/mp4", title: str = "Spring jacket") -> httpx.Response:
    return await client.post("/api/videos", params={"title": title}, content=content,
                             headers={**host.headers, "Content-Type": content_type})


def _playlist_seconds(path: Path) -> float:
    return sum(float(value) for value in re.findall(r"#EXTINF:([0-9.]+)", path.read_text()))


async def test_an_upload_is_transcoded_to_a_ladder_with_a_master_playlist_and_a_poster(
        client: httpx.AsyncClient, services: Services, settings: Settings, make_user: Any,
        clip: Path) -> None:
    host = await make_user("host")
    response = await _upload(client, host, clip.read_bytes())
    assert response.status_code == 202, response.text
    video = response.json()
    assert video["status"] == "uploaded" and video["playlist_url"] is None

    status = await videos.process_video(services, settings.video, video["id"])

    assert status == "ready"
    out = _layout(settings).output(video["id"])
    master = (out / "master.m3u8").read_text()
    assert "720p/index.m3u8" in master and "360p/index.m3u8" in master
    assert "RESOLUTION=1280x720" in master and "RESOLUTION=640x360" in master
    for rung in ("720p", "360p"):
        assert abs(_playlist_seconds(out / rung / "index.m3u8") - CLIP_SECONDS) <= 0.5
        assert "#EXT-X-ENDLIST" in (out / rung / "index.m3u8").read_text()
    assert (out / "poster.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert _layout(settings).temporary_outputs(video["id"]) == []
    ready = (await client.get(f"/api/videos/{video['id']}")).json()
    assert ready["status"] == "ready" and ready["renditions"] == [720, 360]
    assert abs(ready["duration_ms"] - CLIP_SECONDS * 1000) <= 500
    served = await client.get(ready["playlist_url"])
    assert served.status_code == 200 and "#EXTM3U" in served.text
    feed = (await client.get("/api/videos")).json()["videos"]
    assert [v["id"] for v in feed] == [video["id"]]
    # a second run (a duplicate task) changes nothing
    assert await videos.process_video(services, settings.video, video["id"]) == "ready"


async def test_a_small_source_is_not_upscaled(client: httpx.AsyncClient, services: Services,
                                              settings: Settings, make_user: Any,
                                              tmp_path: Path) -> None:
    small = make_clip(tmp_path / "small.mp4", seconds=2, size="640x360")
    host = await make_user("host")
    video = (await _upload(client, host, small.read_bytes())).json()

    assert await videos.process_video(services, settings.video, video["id"]) == "ready"

    master = (_layout(settings).output(video["id"]) / "master.m3u8").read_text()
    assert "360p/index.m3u8" in master and "720p" not in master


async def test_a_corrupt_file_fails_with_its_reason_and_leaves_no_output(
        client: httpx.AsyncClient, services: Services, settings: Settings,
        make_user: Any) -> None:
    host = await make_user("host")
    # An MP4's first box, then noise: it passes the upload's sniffing, not the probe.
    corrupt = b"\x00\x00\x00\x18ftypmp42" + os.urandom(64 * 1024)
    video = (await _upload(client, host, corrupt)).json()

    status = await videos.process_video(services, settings.video, video["id"])

    assert status == "failed"
    failed = (await client.get(f"/api/videos/{video['id']}", headers=host.headers)).json()
    assert failed["status"] == "failed" and "not a readable video" in failed["failure_reason"]
    assert not _layout(settings).output(video["id"]).exists()
    assert _layout(settings).temporary_outputs(video["id"]) == []
    # a guest does not see a video that is not ready
    assert (await client.get(f"/api/videos/{video['id']}")).status_code == 404


@pytest.mark.parametrize(("content", "content_type", "status"), [
    (b"hello, this is a text file and not a video at all", "video/mp4", 415),
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "text/plain", 415),
    (b"", "video/mp4", 422),
])
async def test_a_file_that_is_not_a_video_is_refused_and_nothing_is_kept(
        client: httpx.AsyncClient, services: Services, settings: Settings, make_user: Any,
        content: bytes, content_type: str, status: int) -> None:
    host = await make_user("host")
    before = _uploads(settings)

    response = await _upload(client, host, content, content_type)

    assert response.status_code == status
    assert response.json()["error"]["code"]
    assert await _video_count(services) == 0
    assert _uploads(settings) == before


async def test_only_hosts_upload(client: httpx.AsyncClient, make_user: Any, clip: Path) -> None:
    viewer = await make_user("viewer")

    response = await _upload(client, viewer, clip.read_bytes())

    assert response.status_code == 403


@pytest.fixture
async def small_limit_client(services: Services, settings: Settings
                             ) -> AsyncIterator[httpx.AsyncClient]:
    limited = dataclasses.replace(settings, video=dataclasses.replace(
        settings.video, max_upload_bytes=64 * 1024))
    application = create_app(limited, services)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


async def test_a_file_over_the_size_limit_is_refused_declared_or_streamed(
        small_limit_client: httpx.AsyncClient, services: Services, settings: Settings,
        make_user: Any, clip: Path) -> None:
    host = await make_user("host")
    body = clip.read_bytes()
    assert len(body) > 64 * 1024
    before = _uploads(settings)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: cut off while streaming
        for start in range(0, len(body), 16 * 1024):
            yield body[start:start + 16 * 1024]

    declared = await _upload(small_limit_client, host, body)
    streamed = await _upload(small_limit_client, host, chunks())

    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert declared.json()["error"]["code"] == "video_too_large"
    assert await _video_count(services) == 0
    assert _uploads(settings) == before


async def test_a_transcode_killed_halfway_leaves_nothing_ready_and_the_retry_succeeds(
        client: httpx.AsyncClient, services: Services, settings: Settings, make_user: Any,
        tmp_path: Path) -> None:
    # A longer clip, so that the transcode is still running when it is killed.
    longer = make_clip(tmp_path / "longer.mp4", seconds=10)
    host = await make_user("host")
    video = (await _upload(client, host, longer.read_bytes())).json()
    layout = _layout(settings)

    child = subprocess.Popen([sys.executable, "-m", "tests.video.transcode_child",
                              str(video["id"])], cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def transcoding() -> bool:
            return any((folder / "720p").exists() for folder in
                       layout.temporary_outputs(video["id"]))

        await poll_until(transcoding, timeout=60, interval=0.05, message="the transcode")
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the worker and its ffmpeg, as an OOM kill
        child.wait()

    async def ffmpeg_gone() -> bool:
        return not any(str(layout.source(video["id"])) in line for line in _command_lines())

    await poll_until(ffmpeg_gone, timeout=10, message="the killed transcode's ffmpeg to exit")

    killed = (await client.get(f"/api/videos/{video['id']}", headers=host.headers)).json()
    assert killed["status"] == "processing"
    assert not layout.output(video["id"]).exists()

    assert await videos.process_video(services, settings.video, video["id"]) == "ready"
    assert layout.temporary_outputs(video["id"]) == []
    assert (layout.output(video["id"]) / "master.m3u8").exists()


def _command_lines() -> list[str]:
    import psutil

    lines = []
    for process in psutil.process_iter():
        try:
            lines.append(" ".join(process.cmdline()))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return lines
