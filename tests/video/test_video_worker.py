"""An upload's transcode through a real Celery worker: queued after the upload's commit."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import poll_until
from tests.infra import TestInfra
from tests.video.clips import make_clip
from tests.workers.conftest import CeleryProcess, start_solo_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def video_worker(infra: TestInfra) -> Iterator[CeleryProcess]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed; the video tests need `apt-get install ffmpeg`")
    worker = start_solo_worker(infra)
    yield worker
    worker.stop()


async def test_an_upload_is_transcoded_by_the_worker(
        video_worker: CeleryProcess, client: httpx.AsyncClient, make_user: Any,
        tmp_path: Path) -> None:
    host = await make_user("host")
    clip = make_clip(tmp_path / "clip.mp4", seconds=3)

    response = await client.post("/api/videos", params={"title": "Linen shirt"},
                                 content=clip.read_bytes(),
                                 headers={**host.headers, "Content-Type": "video/mp4"})
    assert response.status_code == 202, response.text
    video_id = response.json()["id"]

    async def ready() -> bool:
        body = (await client.get(f"/api/videos/{video_id}", headers=host.headers)).json()
        assert body["status"] in ("uploaded", "processing", "ready"), body
        return bool(body["status"] == "ready")

    await poll_until(ready, timeout=90, interval=0.2, message="the worker's transcode")
    served = await client.get(f"/media/videos/{video_id}/master.m3u8")
    assert served.status_code == 200
