"""Who is in a room is marked by a loop of its own, never held up by the engagement tick; and a
big draw's results go out to its entrants in pipelines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.context import Services
from engagement import draws, runtime
from engagement.models import EntryRule
from engagement.presence import present_users, tracker_of
from social.follows import followers_of
from tests.conftest import capture_news, poll_until
from tests.engagement.conftest import LiveRoom, RedisCalls
from tests.social.conftest import make_followers


async def test_viewers_are_marked_present_while_the_tick_is_stalled(
        app: Any, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a web process whose engagement tick is stuck (a big draw being announced)
    stuck = asyncio.Event()

    async def stalled(svc: Services, followers_of: Any = None) -> None:
        await stuck.wait()

    monkeypatch.setattr(runtime, "tick", stalled)
    try:
        # when a signed-in viewer joins a room through the hub, and stays
        tracker = tracker_of(id(services))
        tracker.viewer_joined(424242, "viewer-key", 77)
        try:
            # then they are marked present all the same, and stay so past a mark's life
            async def present() -> bool:
                return 77 in await present_users(services.redis, services.keys, 424242)

            await poll_until(present, timeout=10, message="the viewer marked present")
            await services.redis.delete(f"{services.keys.room(424242, 'present')}")
            await poll_until(present, timeout=10, message="the viewer marked present again")
        finally:
            tracker.viewer_left(424242, "viewer-key", 77)
    finally:
        stuck.set()


async def test_a_big_draws_results_go_out_in_pipelines(
        live_room: Callable[[], Awaitable[LiveRoom]], services: Services,
        no_web_tick: None, redis_calls: RedisCalls) -> None:
    # given a host with 2,500 followers and a draw that follows the host, closed
    room = await live_room()
    fans = await make_followers(services, room.host.id, 2500)
    draw = await draws.start_draw(services, room.host.principal, room.id, draws.DrawTerms(
        prize="A scarf", winner_count=3, rule=EntryRule.FOLLOWS, keyword=None,
        countdown_seconds=1))

    # when it is drawn
    async with capture_news(services) as published:
        async def drawn() -> bool:
            return await draws.run_draw(services, draw.id, followers_of)

        redis_calls.alone.clear()
        redis_calls.pipelines.clear()
        await poll_until(drawn, timeout=10, interval=0.2, message="the draw drawn")

    # then each follower heard their result once, in pipelines of a thousand, not one call each
    results = [e for e in published if e["type"] == "draw" and e.get("user_id")]
    assert sorted(e["user_id"] for e in results) == sorted(fans)
    assert sum(1 for e in results if e["data"]["result"] == "won") == 3
    assert redis_calls.scripts_alone() <= 1  # the room's own `drawn` event
    assert [size for size in redis_calls.pipelines if size >= 500] == [1000, 1000, 500]
