"""What a viewer does over the websocket is recorded for the broadcast report."""

from __future__ import annotations

from sqlalchemy import func, select

from analytics.models import AnalyticsEvent
from core.context import Services
from tests.conftest import MakeUser, poll_until
from tests.realtime.conftest import Connect


async def test_join_chat_likes_and_leave_are_recorded(make_user: MakeUser, make_room,
                                                      connect_viewer: Connect,
                                                      services: Services) -> None:
    # given a live room
    host = await make_user("host")
    room = await make_room(host, live=True)
    ana = await make_user("viewer", name="Ana")

    # when a viewer joins, chats once, likes three times and drops the connection
    viewer = await connect_viewer(room["id"], user=ana)
    await viewer.next("hello")
    await viewer.send({"type": "chat", "text": "hello there"})
    await viewer.next("chat")
    await viewer.send({"type": "like", "count": 3})
    await viewer.next("likes")
    await viewer.close()

    # then the recorder wrote her join, her chat line and her leave, and the room's likes
    async def recorded() -> dict[tuple[str, int | None], int]:
        async with services.db.session() as session:
            rows = await session.execute(
                select(AnalyticsEvent.kind, AnalyticsEvent.user_id, func.sum(AnalyticsEvent.count))
                .where(AnalyticsEvent.room_id == room["id"])
                .group_by(AnalyticsEvent.kind, AnalyticsEvent.user_id))
            return {(kind, user_id): int(total) for kind, user_id, total in rows}

    expected = {("viewer_joined", ana.id): 1, ("chat", ana.id): 1, ("likes", None): 3,
                ("viewer_left", ana.id): 1}

    async def all_there() -> bool:
        return await recorded() == expected

    await poll_until(all_there, timeout=15, message=f"the recorded events {expected}")
