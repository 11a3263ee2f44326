"""The domain events the live package records; handlers run after the commit
(`workers/handlers.py`; the table in docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

from core.events import DomainEvent


@dataclass(frozen=True, slots=True)
class RoomEndedWithoutStream(DomainEvent):
    """A live room was ended because its video stream stayed gone past the grace period
    (live.streams.end_rooms_without_stream): its broadcast report is due."""

    room_id: int


@dataclass(frozen=True, slots=True)
class ShortVideoUploaded(DomainEvent):
    """A host's short video is on disk and recorded: its transcode is due
    (live.videos.save_upload)."""

    video_id: int


@dataclass(frozen=True, slots=True)
class RoomWentLive(DomainEvent):
    """A room moved to live (the host's button, or the ingest's first publish): its host's
    followers and the viewers who asked to be reminded are due a go-live alert."""

    room_id: int
    host_id: int
