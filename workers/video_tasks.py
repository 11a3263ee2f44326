"""Celery tasks of the video half: thin shells over live.streams, live.videos and
live.replays, each safe to run twice.

- `live.end_rooms_without_stream()`: on the beat schedule. Ends the live rooms whose stream
  has been gone longer than the grace period (INGEST_GRACE_SECONDS).
- `live.process_short_video(video_id)`: queued after an upload's commit. Transcodes it.
- `live.queue_unprocessed_videos()`: on the beat schedule; queues uploads whose message was
  lost.
- `live.build_replays()`: on the beat schedule; makes the replay of each ended room that
  streamed (live/replays.py), whose transcode is then queued like an upload's.
"""

from __future__ import annotations

from pathlib import Path

from celery import Task

from core.context import Services
from core.settings import get_settings
from live import replays, streams, videos
from workers.app import app
from workers.runtime import run


@app.task(name="live.end_rooms_without_stream")
def end_rooms_without_stream() -> list[int]:
    ingest = get_settings().ingest

    async def work(svc: Services) -> list[int]:
        return await streams.end_rooms_without_stream(
            svc, grace_seconds=ingest.grace_seconds, update_seconds=ingest.update_seconds)

    return run(work)


# A transcode that fails for a passing reason (the database down at the end) is retried this
# many times, a minute apart; a file that cannot be transcoded is failed at once, not retried.
TRANSCODE_RETRIES = 3
# An uploaded video whose task message was lost is queued again after this long.
UNQUEUED_VIDEO_SECONDS = 120.0


@app.task(name="live.process_short_video", bind=True, max_retries=TRANSCODE_RETRIES,
          default_retry_delay=60)
def process_short_video(self: Task, video_id: int) -> str:
    """Probe, transcode to the HLS ladder, mark ready or failed (live.videos.process_video).
    A worker killed mid-transcode has its task redelivered (acks_late, reject_on_worker_lost),
    and the new attempt starts over in a fresh temporary folder."""
    video = get_settings().video
    try:
        return run(lambda svc: videos.process_video(svc, video, video_id))
    except videos.VideoNotFound:
        return "missing"
    except Exception as exc:
        raise self.retry(exc=exc) from exc


@app.task(name="live.queue_unprocessed_videos")
def queue_unprocessed_videos() -> list[int]:
    """Queue the transcode of uploaded videos whose message was lost."""
    ids = run(lambda svc: videos.videos_to_process(svc, older_than_seconds=UNQUEUED_VIDEO_SECONDS))
    for video_id in ids:
        process_short_video.delay(video_id)
    return ids


@app.task(name="live.build_replays")
def build_replays() -> list[int]:
    settings = get_settings()

    async def work(svc: Services) -> list[int]:
        made = []
        for room_id in await replays.rooms_needing_replay(svc):
            video_id = await replays.build_replay(svc, settings.video,
                                                  Path(settings.ingest.record_dir), room_id)
            if video_id is not None:
                made.append(video_id)
        return made

    return run(work)
