"""Follows, "remind me", the go-live alert's fan-out and the notifications list."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from core.context import Services
from core.events import EventBus
from core.settings import SocialSettings
from live import actions as live_actions
from live.events import RoomWentLive
from live.models import RoomStatus
from social import alerts
from social.models import Follow, Notification, RoomReminder
from tests.conftest import MakeUser, capture_news
from tests.engagement.conftest import RedisCalls
from tests.engagement.conftest import redis_calls as redis_calls  # (shared fixture)
from tests.social.conftest import make_followers


async def _count(services: Services, model: Any) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_viewer_follows_and_unfollows_a_host(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    # given a host and a viewer
    host = await make_user("host")
    viewer = await make_user()

    # when the viewer follows (twice), then reads the profile, then unfollows
    first = await client.post(f"/api/hosts/{host.id}/follow", headers=viewer.headers)
    again = await client.post(f"/api/hosts/{host.id}/follow", headers=viewer.headers)
    profile = await client.get(f"/api/hosts/{host.id}", headers=viewer.headers)
    guest_view = await client.get(f"/api/hosts/{host.id}")
    gone = await client.delete(f"/api/hosts/{host.id}/follow", headers=viewer.headers)

    # then following is idempotent, the count follows, and a guest sees the count only
    assert first.json() == {"host_id": host.id, "following": True, "followers": 1}
    assert again.json() == first.json()
    assert profile.json()["following"] is True and profile.json()["followers"] == 1
    assert guest_view.json()["following"] is False and guest_view.json()["followers"] == 1
    assert gone.json() == {"host_id": host.id, "following": False, "followers": 0}


async def test_following_yourself_or_someone_who_is_not_a_host_is_refused(
        client: httpx.AsyncClient, make_user: MakeUser, services: Services) -> None:
    # given a host and a viewer
    host = await make_user("host")
    viewer = await make_user()

    # when the host follows themself, the viewer follows a viewer, and a guest follows
    self_follow = await client.post(f"/api/hosts/{host.id}/follow", headers=host.headers)
    not_host = await client.post(f"/api/hosts/{viewer.id}/follow", headers=host.headers)
    guest = await client.post(f"/api/hosts/{host.id}/follow")

    # then each is its own 4xx naming the reason, and nobody follows anybody
    assert self_follow.status_code == 422
    assert self_follow.json()["error"]["code"] == "cannot_follow_self"
    assert self_follow.json()["error"]["field"] == "host_id"
    assert not_host.status_code == 404 and not_host.json()["error"]["code"] == "host_not_found"
    assert guest.status_code == 401
    assert await _count(services, Follow) == 0


async def test_remind_me_is_for_scheduled_rooms_only(
        client: httpx.AsyncClient, make_user: MakeUser, make_room: Any,
        services: Services) -> None:
    # given a scheduled room and a live one
    host = await make_user("host")
    viewer = await make_user()
    later = await make_room(host)
    live = await make_room(host, live=True)

    # when the viewer asks to be reminded of each
    ok = await client.post(f"/api/rooms/{later['id']}/remind", headers=viewer.headers)
    refused = await client.post(f"/api/rooms/{live['id']}/remind", headers=viewer.headers)

    # then only the scheduled room takes it
    assert ok.status_code == 200 and ok.json() == {"room_id": later["id"], "reminding": True,
                                                   "subscribers": 1}
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "room_not_scheduled"
    assert await _count(services, RoomReminder) == 1


async def test_going_live_records_the_event_that_alerts_followers(
        make_user: MakeUser, make_room: Any, services: Services) -> None:
    # given a scheduled room, and a bus that records what is handed to it
    host = await make_user("host")
    room = await make_room(host)
    heard: list[RoomWentLive] = []
    bus = EventBus()

    async def hear(svc: Services, event: RoomWentLive) -> None:
        heard.append(event)

    bus.subscribe(RoomWentLive, hear)
    svc = dataclasses.replace(services, events=bus)

    # when the host goes live, then ends the show
    await live_actions.change_status(svc, host.principal, room["id"], RoomStatus.LIVE)
    await live_actions.change_status(svc, host.principal, room["id"], RoomStatus.ENDED)

    # then the go-live event was handed over once, after the commit
    assert heard == [RoomWentLive(room_id=room["id"], host_id=host.id)]


async def test_two_thousand_followers_each_get_one_notification_even_if_the_alert_runs_twice(
        make_user: MakeUser, make_room: Any, services: Services,
        redis_calls: RedisCalls) -> None:
    # given a host with 2,000 followers, one of whom also asked to be reminded of the room,
    # and a viewer who only asked to be reminded
    host = await make_user("host")
    room = await make_room(host)
    follower_ids = await make_followers(services, host.id, 2000)
    reminded_only = await make_user()
    async with services.db.transaction() as session:
        await session.execute(insert(RoomReminder).values(
            [{"user_id": follower_ids[0], "room_id": room["id"]},
             {"user_id": reminded_only.id, "room_id": room["id"]}]))
    await live_actions.change_status(services, host.principal, room["id"], RoomStatus.LIVE)
    # Small batches, so that the walk crosses many of them.
    svc = dataclasses.replace(services, settings=dataclasses.replace(
        services.settings, social=SocialSettings(go_live_alert_batch=300)))

    # when the alert task runs twice at once, and once more after (the units-left news an
    # earlier move left pending, coalesced, is told first by capture_news: it is not the alert's)
    redis_calls.alone.clear()
    redis_calls.pipelines.clear()
    async with capture_news(services) as published:
        first, second = await asyncio.gather(alerts.send_go_live_alert(svc, room["id"]),
                                             alerts.send_go_live_alert(svc, room["id"]))
        third = await alerts.send_go_live_alert(svc, room["id"])

    # then every recipient has exactly one notification, and heard of it exactly once
    assert first + second == 2001 and third == 0
    async with services.db.session() as session:
        rows = (await session.execute(select(Notification.user_id, func.count())
                                      .group_by(Notification.user_id))).all()
    assert len(rows) == 2001 and all(count == 1 for _, count in rows)
    assert {user_id for user_id, _ in rows} == {*follower_ids, reminded_only.id}
    told = [e["user_id"] for e in published if e["type"] == "notification"]
    assert sorted(told) == sorted({*follower_ids, reminded_only.id})
    one = next(e for e in published if e.get("user_id") == reminded_only.id)
    assert one["data"]["title"] == f"{host.display_name} is live"
    # with the host's name, for a page to say it in its own language
    assert one["data"]["host_name"] == host.display_name
    assert one["data"]["url"] == f"/rooms/{room['id']}" and one["data"]["unread"] == 1
    # and nothing is owed any more
    assert room["id"] not in await alerts.owed_go_live_alerts(services)
    # and each batch's user events went out as one pipeline, none of them one call each
    assert redis_calls.scripts_alone() == 0
    assert sum(redis_calls.pipelines) == 2001 and len(redis_calls.pipelines) <= 2 * (2001 // 300 + 1)


async def test_a_lost_alert_is_owed_until_the_sweep_sends_it(
        client: httpx.AsyncClient, make_user: MakeUser, make_room: Any,
        services: Services) -> None:
    # given a follower, and a room that went live whose alert task never ran
    host = await make_user("host")
    fan = await make_user()
    await client.post(f"/api/hosts/{host.id}/follow", headers=fan.headers)
    room = await make_room(host, live=True)
    owed = await alerts.owed_go_live_alerts(services)

    # when the sweep's work runs
    sent = await alerts.send_go_live_alert(services, owed[0])

    # then the room was owed, the follower is notified, and it is owed no more
    assert owed == [room["id"]] and sent == 1
    assert await alerts.owed_go_live_alerts(services) == []
    listing = (await client.get("/api/notifications", headers=fan.headers)).json()
    assert listing["unread"] == 1 and listing["notifications"][0]["room_id"] == room["id"]
    assert listing["notifications"][0]["host_name"] == host.display_name


async def test_notifications_are_listed_newest_first_and_marked_read(
        client: httpx.AsyncClient, make_user: MakeUser, make_room: Any,
        services: Services) -> None:
    # given a fan of two hosts who both went live
    fan = await make_user()
    other = await make_user()
    rooms = []
    for name in ("Ana", "Bo"):
        host = await make_user("host", name=name)
        await client.post(f"/api/hosts/{host.id}/follow", headers=fan.headers)
        room = await make_room(host, live=True)
        await alerts.send_go_live_alert(services, room["id"])
        rooms.append(room)

    # when the fan lists them, reads the newest, someone else tries to read the other, then
    # the fan reads all
    listing = (await client.get("/api/notifications", headers=fan.headers)).json()
    newest, oldest = listing["notifications"]
    one = await client.post(f"/api/notifications/{newest['id']}/read", headers=fan.headers)
    not_theirs = await client.post(f"/api/notifications/{oldest['id']}/read",
                                   headers=other.headers)
    after_one = (await client.get("/api/notifications", headers=fan.headers)).json()
    everything = await client.post("/api/notifications/read", headers=fan.headers)

    # then
    assert listing["unread"] == 2 and newest["room_id"] == rooms[1]["id"]
    assert newest["title"] == "Bo is live" and newest["read_at"] is None
    assert one.json() == {"unread": 1}
    assert not_theirs.status_code == 404
    assert not_theirs.json()["error"]["code"] == "notification_not_found"
    assert after_one["unread"] == 1 and after_one["notifications"][0]["read_at"] is not None
    assert everything.json() == {"unread": 0}
