"""Celery tasks of the video half: thin shells over live.streams, each safe to run twice.

- `live.end_rooms_without_stream()`: on the beat schedule. Ends the live rooms whose stream
  has been gone longer than the grace period (INGEST_GRACE_SECONDS).
"""

from __future__ import annotations

from core.context import Services
from core.settings import get_settings
from live import streams
from workers.app import app
from workers.runtime import run


@app.task(name="live.end_rooms_without_stream")
def end_rooms_without_stream() -> list[int]:
    ingest = get_settings().ingest

    async def work(svc: Services) -> list[int]:
        return await streams.end_rooms_without_stream(
            svc, grace_seconds=ingest.grace_seconds, update_seconds=ingest.update_seconds)

    return run(work)
