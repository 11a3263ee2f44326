"""The periodic sweep, the Celery task shells and the rebuild command."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from analytics import actions
from analytics.errors import RoomNotEnded
from analytics.models import AnalyticsEvent, BroadcastReport
from analytics.recorder import Recorder
from core.context import Services
from live.models import Room
from orders.models import Order, OrderEvent
from tests.analytics.conftest import Broadcast, at
from tests.conftest import MakeUser


async def _stored(services: Services, room_id: int) -> BroadcastReport | None:
    async with services.db.session() as session:
        return await session.get(BroadcastReport, room_id)


async def test_the_sweep_builds_missing_reports_once(
        services: Services, broadcast: Broadcast) -> None:
    # given an ended room whose build task never ran
    assert await _stored(services, broadcast.room_id) is None

    # when the sweep runs twice
    first = await actions.build_missing_reports(services)
    second = await actions.build_missing_reports(services)

    # then it built the report once and found nothing left to do
    assert first == [broadcast.room_id]
    assert second == []
    stored = await _stored(services, broadcast.room_id)
    assert stored is not None
    assert stored.net_gmv_minor == 11400


async def test_a_later_refund_or_late_event_makes_the_sweep_rebuild(
        services: Services, broadcast: Broadcast) -> None:
    # given a built report
    await actions.build_report(services, broadcast.room_id)

    # when O3 is refunded the next day
    async with services.db.transaction() as session:
        order = await session.get(Order, broadcast.orders["O3"])
        assert order is not None
        order.status = "refunded"
        session.add(OrderEvent(order_id=order.id, type="order_refunded", from_status="paid",
                               to_status="refunded", created_at=at("20:00:00").replace(day=21)))
    rebuilt = await actions.build_missing_reports(services)

    # then the sweep rebuilt it, and net GMV dropped by 6500
    assert rebuilt == [broadcast.room_id]
    stored = await _stored(services, broadcast.room_id)
    assert stored is not None
    assert (stored.gmv_minor, stored.net_gmv_minor) == (21200, 4900)

    # and a chat line flushed after the build is picked up the same way
    recorder = Recorder(services.db)
    recorder.chat(broadcast.room_id, broadcast.viewers["Ann"].id, at=at("20:09:58"))
    await recorder.flush()
    assert await actions.build_missing_reports(services) == [broadcast.room_id]
    stored = await _stored(services, broadcast.room_id)
    assert stored is not None
    assert stored.data["summary"]["chat_messages"] == 5


async def test_a_live_room_has_no_stored_report_yet(
        services: Services, make_user: MakeUser) -> None:
    host = await make_user("host")
    async with services.db.transaction() as session:
        room = Room(host_id=host.id, title="On air", status="live", stream_key="k-live",
                    started_at=at("20:00:00"))
        session.add(room)

    # the sweep leaves it alone; building it directly is refused
    assert await actions.build_missing_reports(services) == []
    with pytest.raises(RoomNotEnded):
        await actions.build_report(services, room.id)
    # but its numbers so far can be computed
    so_far = await actions.compute(services, room.id)
    assert so_far["room"]["ended_at"] is None
    assert so_far["summary"]["gmv_minor"] == 0


async def test_the_task_shells_build_and_sweep(services: Services, broadcast: Broadcast,
                                               make_user: MakeUser) -> None:
    # Imported here: the Celery app reads the settings of this test run when it is imported.
    from workers import analytics_tasks

    host = await make_user("host")
    async with services.db.transaction() as session:
        live_room = Room(host_id=host.id, title="On air", status="live", stream_key="k-task",
                         started_at=at("20:00:00"))
        session.add(live_room)

    # the tasks run the domain functions in the worker's own event loop (here: a thread)
    built = await asyncio.to_thread(analytics_tasks.build_report, broadcast.room_id)
    again = await asyncio.to_thread(analytics_tasks.build_report, broadcast.room_id)
    early = await asyncio.to_thread(analytics_tasks.build_report, live_room.id)
    swept = await asyncio.to_thread(analytics_tasks.sweep_reports)

    assert built == again == {"room_id": broadcast.room_id, "currency": "USD",
                              "gmv_minor": 21200, "paid_orders": 3}
    assert early is None
    assert swept == []
    async with services.db.session() as session:
        assert len(list(await session.scalars(select(BroadcastReport)))) == 1


async def test_the_rebuild_command_shows_progress_and_rebuilds_the_range(
        services: Services, broadcast: Broadcast) -> None:
    from analytics import cli

    # given a report built from fewer events than there are now
    await actions.build_report(services, broadcast.room_id)
    async with services.db.transaction() as session:
        session.add(AnalyticsEvent(room_id=broadcast.room_id, kind="likes",
                                   at=datetime(2026, 11, 20, 20, 5, tzinfo=UTC), count=70))

    # when the command rebuilds the day of the broadcast, and then an empty range
    out = io.StringIO()
    code = await asyncio.to_thread(cli.main, ["--since", "2026-11-20", "--until", "2026-11-20"],
                                   out)
    empty = io.StringIO()
    await asyncio.to_thread(cli.main, ["--since", "2026-11-21", "--until", "2026-11-22"], empty)

    # then the report has the new likes, and the progress bar said so
    assert code == 0
    assert f"[{'#' * 30}] 1/1  room {broadcast.room_id}" in out.getvalue()
    assert "rebuilt 1 report of rooms that ended 2026-11-20 to 2026-11-20" in out.getvalue()
    assert "rebuilt 0 reports" in empty.getvalue()
    stored = await _stored(services, broadcast.room_id)
    assert stored is not None
    assert stored.data["summary"]["likes"] == 100


def test_the_rebuild_command_refuses_a_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    from analytics import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "is not a date" in capsys.readouterr().err
