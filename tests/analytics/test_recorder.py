"""The Recorder: batched, coalesced, survives a database failure, flushes on shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import func, select

from analytics.models import AnalyticsEvent
from analytics.recorder import Recorder, viewer_key_for
from core.context import Services
from core.db import Database
from tests.conftest import poll_until

T0 = datetime(2026, 11, 20, 20, 0, 0, tzinfo=UTC)


async def _rows(services: Services) -> list[AnalyticsEvent]:
    async with services.db.session() as session:
        return list(await session.scalars(select(AnalyticsEvent).order_by(AnalyticsEvent.id)))


async def test_chat_and_likes_of_one_minute_fold_into_one_row_and_joins_keep_their_time(
        services: Services) -> None:
    # given a recorder and a burst of activity in one minute
    recorder = Recorder(services.db)
    recorder.viewer_joined(7, "u:1", 1, at=T0.replace(second=1))
    for second in range(100):
        recorder.chat(7, 1, at=T0.replace(second=second % 60))
    recorder.likes(7, 20, at=T0.replace(second=5))
    recorder.likes(7, 30, at=T0.replace(second=50))
    recorder.viewer_left(7, "u:1", 1, at=T0.replace(second=59))

    # when it flushes
    written = await recorder.flush()

    # then there is one row per join or leave and one per counter
    rows = await _rows(services)
    assert written == len(rows) == 4
    by_kind = {row.kind: row for row in rows}
    assert by_kind["chat"].count == 100
    assert by_kind["likes"].count == 50
    assert by_kind["likes"].at == T0.replace(second=5)
    assert by_kind["viewer_joined"].at == T0.replace(second=1)
    assert by_kind["viewer_left"].at == T0.replace(second=59)


@contextlib.asynccontextmanager
async def _started(recorder: Recorder) -> AsyncIterator[Recorder]:
    """The recorder's background loop runs until the end."""
    await recorder.start()
    try:
        yield recorder
    finally:
        await recorder.stop()


async def _until_rows(services: Services, count: int, what: str) -> None:
    async def written() -> bool:
        return len(await _rows(services)) == count
    await poll_until(written, message=f"{what} to be written")


async def test_the_background_loop_flushes_without_being_asked(services: Services) -> None:
    # given a started recorder
    async with _started(Recorder(services.db, flush_interval=0.05)) as recorder:
        # when the hub reports a join
        recorder.viewer_joined(7, "g:abcdefgh12", None)

        # then it reaches the database on its own
        await _until_rows(services, 1, "the join")


async def test_a_full_batch_is_written_before_the_interval(services: Services) -> None:
    # given a recorder that would wait an hour, but writes every 10 events
    async with _started(Recorder(services.db, flush_interval=3600, batch_size=10)) as recorder:
        # when 10 viewers join
        for n in range(10):
            recorder.viewer_joined(7, f"u:{n}", n)

        # then they are written without waiting for the interval
        await _until_rows(services, 10, "the batch")


async def test_a_failed_flush_does_not_raise_and_keeps_the_rows(services: Services) -> None:
    # given a recorder whose database is unreachable
    dead = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    recorder = Recorder(dead)
    recorder.viewer_joined(7, "u:1", 1, at=T0)
    recorder.chat(7, 1, at=T0)
    try:
        # when it flushes
        written = await recorder.flush()

        # then the caller is fine and nothing is lost
        assert written == 0
        assert recorder.failed_flushes == 1
        assert recorder.buffered == 2

        # and once the database is back, the next flush writes them
        recorder.db = services.db
        recorder.viewer_left(7, "u:1", 1, at=T0.replace(second=30))
        assert await recorder.flush() == 3
        assert {row.kind for row in await _rows(services)} == {
            "viewer_joined", "chat", "viewer_left"}
    finally:
        await dead.dispose()


async def test_stopping_flushes_what_is_left(services: Services) -> None:
    # given a started recorder holding events
    recorder = Recorder(services.db, flush_interval=3600)
    await recorder.start()
    recorder.product_click(7, 3, "u:1", 1)
    recorder.product_view(7, 3, "u:1", 1)

    # when the process shuts down
    await recorder.stop()

    # then they are in the database
    async with services.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(AnalyticsEvent))
    assert count == 2


def test_viewer_keys_name_users_and_guests() -> None:
    assert viewer_key_for(42) == "u:42"
    assert viewer_key_for(None, "abcDEF123_-x") == "g:abcDEF123_-x"
    # a missing or malformed cookie gets a key of its own
    assert viewer_key_for(None, None).startswith("c:")
    assert viewer_key_for(None, "bad cookie;").startswith("c:")
