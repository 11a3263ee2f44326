"""Chat, likes, ping and bad frames over a real websocket."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeUser, TestUser
from tests.realtime.conftest import Connect, Viewer


async def _live_room(make_user: MakeUser, make_room) -> tuple[TestUser, dict]:
    host = await make_user("host")
    room = await make_room(host, live=True)
    return host, room


async def _watching(connect_viewer: Connect, room: dict, user: TestUser | None = None) -> Viewer:
    """A viewer of the room (a guest without a user), past the hello."""
    viewer = await connect_viewer(room["id"], user=user)
    await viewer.next("hello")
    return viewer


async def test_a_chat_line_reaches_every_viewer_as_text(make_user: MakeUser, make_room,
                                                        connect_viewer: Connect) -> None:
    # given a room with a logged-in viewer and a guest
    _, room = await _live_room(make_user, make_room)
    ana = await make_user("viewer", name="Ana")
    sender = await connect_viewer(room["id"], user=ana)
    guest = await connect_viewer(room["id"], compression="deflate")  # as browsers do
    await sender.next("hello")
    await guest.next("hello")

    # when the viewer chats a line with markup in it
    await sender.send({"type": "chat", "text": "  <script>alert(1)</script> hi  "})

    # then everyone gets the same chat event, text as sent (trimmed), with an id and an offset
    seen = await guest.next("chat")
    mine = await sender.next("chat")
    assert seen == mine
    assert seen["data"]["text"] == "<script>alert(1)</script> hi"
    assert seen["data"]["user"] == {"id": ana.id, "display_name": "Ana", "role": "viewer"}
    assert isinstance(seen["data"]["id"], str) and seen["offset"] >= 1

    # and a later hello carries it in the recent chat
    late = await connect_viewer(room["id"])
    assert (await late.next("hello"))["data"]["chat"] == [seen["data"]]


async def test_guest_cannot_chat_or_like(make_user: MakeUser, make_room,
                                         connect_viewer: Connect) -> None:
    _, room = await _live_room(make_user, make_room)
    guest = await connect_viewer(room["id"])
    await guest.next("hello")

    await guest.send({"type": "chat", "text": "hello"})
    chat_error = await guest.next("error")
    await guest.send({"type": "like", "count": 3})
    like_error = await guest.next("error")

    assert chat_error["data"]["code"] == "auth_required"
    assert like_error["data"]["code"] == "auth_required"
    await guest.send({"type": "ping"})
    assert (await guest.next("pong", "chat", "likes"))["type"] == "pong"


async def test_chat_longer_than_the_limit_is_refused(make_user: MakeUser, make_room,
                                                     connect_viewer: Connect) -> None:
    _, room = await _live_room(make_user, make_room)
    viewer = await _watching(connect_viewer, room, await make_user("viewer"))

    await viewer.send({"type": "chat", "text": "x" * 301})
    error = await viewer.next("error", "chat")

    assert error["type"] == "error"
    assert error["data"]["code"] == "too_long" and error["data"]["field"] == "text"


@pytest.mark.redis6
async def test_chat_faster_than_the_rate_limit_is_refused(make_user: MakeUser, make_room,
                                                          connect_viewer: Connect) -> None:
    _, room = await _live_room(make_user, make_room)
    viewer = await _watching(connect_viewer, room, await make_user("viewer"))

    await viewer.send({"type": "chat", "text": "one"})
    await viewer.send({"type": "chat", "text": "two"})
    first = await viewer.next("chat", "error")
    second = await viewer.next("chat", "error")

    assert first["type"] == "chat" and first["data"]["text"] == "one"
    assert second["type"] == "error" and second["data"]["code"] == "rate_limited"
    assert second["data"]["retry_after_ms"] > 0


async def test_slow_mode_the_host_switches_on_applies_to_viewers(
        make_user: MakeUser, make_room, client: httpx.AsyncClient,
        connect_viewer: Connect) -> None:
    # given a room in slow mode (30 s) and a viewer who already chatted once
    host, room = await _live_room(make_user, make_room)
    viewer = await _watching(connect_viewer, room, await make_user("viewer"))
    response = await client.patch(f"/api/rooms/{room['id']}", json={"slow_mode_seconds": 30},
                                  headers=host.headers)
    assert response.status_code == 200, response.text
    assert (await viewer.next("room"))["data"]["slow_mode_seconds"] == 30
    await viewer.send({"type": "chat", "text": "first"})
    await viewer.next("chat")

    # when they chat again at once
    await viewer.send({"type": "chat", "text": "second"})

    # then slow mode refuses it
    error = await viewer.next("error", "chat")
    assert error["type"] == "error" and error["data"]["code"] == "slow_mode"


async def test_a_muted_user_cannot_chat_and_the_room_is_told(
        make_user: MakeUser, make_room, client: httpx.AsyncClient,
        connect_viewer: Connect) -> None:
    host, room = await _live_room(make_user, make_room)
    bob = await make_user("viewer", name="Bob")
    viewer = await _watching(connect_viewer, room, bob)

    response = await client.post(f"/api/rooms/{room['id']}/mutes", json={"user_id": bob.id},
                                 headers=host.headers)
    assert response.status_code in (200, 201), response.text
    moderation = await viewer.next("moderation")
    await viewer.send({"type": "chat", "text": "let me speak"})
    error = await viewer.next("error", "chat")

    assert moderation["data"]["action"] == "mute" and moderation["data"]["user_id"] == bob.id
    assert error["type"] == "error" and error["data"]["code"] == "muted"
    again = await connect_viewer(room["id"], user=bob)
    assert (await again.next("hello"))["data"]["muted"] is True


async def test_a_deleted_message_is_removed_everywhere(
        make_user: MakeUser, make_room, client: httpx.AsyncClient,
        connect_viewer: Connect) -> None:
    host, room = await _live_room(make_user, make_room)
    viewer = await _watching(connect_viewer, room, await make_user("viewer"))
    await viewer.send({"type": "chat", "text": "buy my stuff elsewhere"})
    line = await viewer.next("chat")

    response = await client.delete(f"/api/rooms/{room['id']}/chat/{line['data']['id']}",
                                   headers=host.headers)
    assert response.status_code in (200, 204), response.text
    deleted = await viewer.next("moderation")

    assert deleted["data"] == {"action": "delete", "message_id": line["data"]["id"],
                               "by": host.id}
    fresh = await connect_viewer(room["id"])
    assert (await fresh.next("hello"))["data"]["chat"] == []


async def test_bad_frames_get_errors_and_the_connection_stays_open(
        make_user: MakeUser, make_room, connect_viewer: Connect) -> None:
    _, room = await _live_room(make_user, make_room)
    viewer = await _watching(connect_viewer, room, await make_user("viewer"))
    bad = ["not json", "[1, 2]", '{"type": 3}', '{"type": "dance"}', '{"type": "chat"}',
           '{"type": "like", "count": 0}', '{"type": "like", "count": 51}',
           '{"type": "like", "count": true}', "x" * 10_000, '{"type": "chat", "text": "a\\u0000b"}']

    for frame in bad:
        await viewer.send(frame)
    errors = [await viewer.next("error") for _ in bad]
    await viewer.send({"type": "ping"})

    assert [e["data"]["code"] for e in errors] == [
        "bad_json", "bad_frame", "bad_frame", "unknown_type", "invalid", "invalid", "invalid",
        "invalid", "too_large", "invalid"]
    assert errors[4]["data"]["field"] == "text" and errors[5]["data"]["field"] == "count"
    assert errors[9]["data"]["field"] == "text"  # a NUL byte
    assert (await viewer.next("pong"))["type"] == "pong"


async def test_too_many_bad_frames_close_the_connection(make_user: MakeUser, make_room,
                                                        connect_viewer: Connect) -> None:
    _, room = await _live_room(make_user, make_room)
    viewer = await _watching(connect_viewer, room)

    for _ in range(25):
        await viewer.send("nonsense")

    assert await viewer.closed_with() == 4429


@pytest.mark.redis6
async def test_likes_are_aggregated_and_viewers_counted(make_user: MakeUser, make_room,
                                                        connect_viewer: Connect) -> None:
    # given two logged-in viewers in a room
    _, room = await _live_room(make_user, make_room)
    first = await connect_viewer(room["id"], user=await make_user("viewer"))
    second = await connect_viewer(room["id"], user=await make_user("viewer"))
    await first.next("hello")
    await second.next("hello")

    # when both tap like a few times
    for _ in range(3):
        await first.send({"type": "like", "count": 2})
    await second.send({"type": "like", "count": 4})

    # then the room sees the total rise to 10 in aggregated events, and 2 viewers
    event = await first.next("likes", where=lambda e: e["data"]["total"] == 10)
    assert event["data"]["delta"] >= 1
    assert (await first.next("viewers", where=lambda e: e["data"]["count"] == 2))
