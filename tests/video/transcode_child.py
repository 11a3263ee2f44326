"""`python -m tests.video.transcode_child VIDEO_ID`: one transcode in a process of its own, for
the test that kills it halfway (as a worker killed mid-task)."""

from __future__ import annotations

import asyncio
import sys

from core.context import Services
from core.settings import load_settings
from live.videos import process_video
from workers.handlers import wire


async def main(video_id: int) -> None:
    settings = load_settings()
    svc = wire(Services.from_settings(settings, pool_size=1))
    try:
        print(await process_video(svc, settings.video, video_id), flush=True)
    finally:
        await svc.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
