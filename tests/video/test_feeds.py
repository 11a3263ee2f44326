"""The short video feeds: For you (everyone's ready videos and replays, newest first) and
Following (the hosts the viewer follows), in keyset pages by cursor, and their page.

The feed is about rows, not files: ready videos are inserted directly (the transcode has its
own tests in test_short_videos.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from core.context import Services
from live.models import ShortVideo, VideoStatus
from tests.conftest import MakeUser, TestUser
from web.api_videos import FEED_LIMIT

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _videos(services: Services, host: TestUser, count: int, *, first: datetime = START,
                  step: timedelta = timedelta(minutes=1), status: str = VideoStatus.READY.value,
                  room_id: int | None = None) -> list[int]:
    """`count` videos of `host`, made ready `step` apart from `first` on (a zero step gives
    them all the same moment: the id orders them)."""
    ready = status == VideoStatus.READY.value
    rows = [ShortVideo(host_id=host.id, title=f"{host.display_name} #{n}", status=status,
                       size_bytes=1000, content_type="video/mp4", room_id=room_id,
                       duration_ms=5000 if ready else None, width=360 if ready else None,
                       height=640 if ready else None, renditions=[360] if ready else [],
                       ready_at=first + step * n if ready else None)
            for n in range(count)]
    async with services.db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def _newest_first(services: Services, video_ids: list[int]) -> list[int]:
    """The ids in the feeds' order, as the database has them."""
    from sqlalchemy import select

    async with services.db.session() as session:
        rows = (await session.execute(select(ShortVideo.id, ShortVideo.ready_at).where(
            ShortVideo.id.in_(video_ids)))).all()
    return [video_id for video_id, _ in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]


async def _mia_zed_and_a_viewer(make_user: MakeUser) -> tuple[TestUser, TestUser, TestUser]:
    """Two hosts, Mia and Zed, and a viewer."""
    return (await make_user("host", name="Mia"), await make_user("host", name="Zed"),
            await make_user("viewer"))


async def _follow(client: httpx.AsyncClient, viewer: TestUser, host: TestUser) -> None:
    response = await client.post(f"/api/hosts/{host.id}/follow", headers=viewer.headers)
    assert response.status_code == 200, response.text


async def _walk(client: httpx.AsyncClient, feed: str, who: TestUser | None
                ) -> list[list[int]]:
    """Every page of a feed, by following next_cursor to the end: the ids of each."""
    pages: list[list[int]] = []
    params: dict[str, str] = {"feed": feed}
    while True:
        response = await client.get("/api/videos", params=params,
                                    headers=who.headers if who else None)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([v["id"] for v in body["videos"]])
        if body["next_cursor"] is None:
            return pages
        params["cursor"] = body["next_cursor"]
        assert len(pages) < 20, "the feed does not end"


async def test_following_lists_only_the_followed_hosts_ready_videos_and_replays_newest_first(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_room: Any) -> None:
    # given two followed hosts and one not followed, each with ready videos at interleaved
    # moments, a followed host's replay, and videos of a followed host not ready yet
    mia, zed, ola = [await make_user("host", name=n) for n in ("Mia", "Zed", "Ola")]
    viewer = await make_user("viewer")
    mias = await _videos(services, mia, 3, first=START)
    zeds = await _videos(services, zed, 3, first=START + timedelta(seconds=30))
    olas = await _videos(services, ola, 3, first=START + timedelta(seconds=10))
    room = await make_room(mia)
    replay = await _videos(services, mia, 1, first=START + timedelta(hours=1),
                           room_id=room["id"])
    unready = (await _videos(services, mia, 1, status=VideoStatus.PROCESSING.value)
               + await _videos(services, mia, 1, status=VideoStatus.FAILED.value))
    await _follow(client, viewer, mia)
    await _follow(client, viewer, zed)

    # when the viewer reads the Following feed, and everyone's
    following = (await client.get("/api/videos", params={"feed": "following"},
                                  headers=viewer.headers)).json()
    for_you = (await client.get("/api/videos", headers=viewer.headers)).json()

    # then Following has the followed hosts' ready videos and the replay, newest first
    expected = await _newest_first(services, mias + zeds + replay)
    assert [v["id"] for v in following["videos"]] == expected
    assert following["videos"][0]["id"] == replay[0]
    assert following["videos"][0]["room_id"] == room["id"]
    assert not set(olas + unready) & {v["id"] for v in following["videos"]}
    assert (following["feed"], following["next_cursor"], following["follows_anyone"]) == \
        ("following", None, True)
    # and For you stays everyone's, newest first
    assert [v["id"] for v in for_you["videos"]] == await _newest_first(
        services, mias + zeds + olas + replay)
    assert for_you["feed"] == "for_you"
    # and one followed host's alone is `host_id`
    only_zed = (await client.get("/api/videos", params={"feed": "following", "host_id": zed.id},
                                 headers=viewer.headers)).json()
    assert [v["id"] for v in only_zed["videos"]] == list(reversed(zeds))


async def test_pages_follow_on_by_cursor_with_no_video_twice_or_missed(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser) -> None:
    # given two followed hosts with more than two pages of videos between them, a dozen made
    # ready at the very same moment (as one of the other host's) across a page boundary (the
    # id orders those), and a host not followed posting in between
    mia, zed, ola = [await make_user("host", name=n) for n in ("Mia", "Zed", "Ola")]
    viewer = await make_user("viewer")
    same_moment = await _videos(services, zed, 12, first=START + timedelta(minutes=15),
                                step=timedelta(0))
    followed = (await _videos(services, mia, 25, first=START) + same_moment
                + await _videos(services, zed, 30, first=START + timedelta(seconds=20)))
    others = await _videos(services, ola, 20, first=START + timedelta(seconds=40))
    await _follow(client, viewer, mia)
    await _follow(client, viewer, zed)
    assert len(followed) > 2 * FEED_LIMIT

    # when the viewer reads Following page by page, and a guest For you
    following = await _walk(client, "following", viewer)
    for_you = await _walk(client, "for_you", None)

    # then the pages are full but the last, and together are every followed video once, in
    # order
    assert [len(p) for p in following] == [FEED_LIMIT, FEED_LIMIT, len(followed) - 2 * FEED_LIMIT]
    assert [i for p in following for i in p] == await _newest_first(services, followed)
    assert set(same_moment) & set(following[0]) and set(same_moment) & set(following[1])
    everyone = await _newest_first(services, followed + others)
    assert [i for p in for_you for i in p] == everyone
    assert [len(p) for p in for_you][:-1] == [FEED_LIMIT] * (len(for_you) - 1)


async def test_a_video_made_ready_while_paging_neither_repeats_nor_hides_one(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser) -> None:
    mia = await make_user("host", name="Mia")
    viewer = await make_user("viewer")
    older = await _videos(services, mia, FEED_LIMIT + 5)
    await _follow(client, viewer, mia)
    first = (await client.get("/api/videos", params={"feed": "following"},
                              headers=viewer.headers)).json()

    # when a new video is ready before the viewer scrolls on
    newest = await _videos(services, mia, 1, first=START + timedelta(days=1))
    second = (await client.get("/api/videos", params={"feed": "following",
                                                      "cursor": first["next_cursor"]},
                               headers=viewer.headers)).json()

    # then the next page starts where the first ended (an offset would repeat one)
    seen = [v["id"] for v in first["videos"] + second["videos"]]
    assert seen == await _newest_first(services, older)
    assert newest[0] not in seen and second["next_cursor"] is None


async def test_unfollowing_a_host_takes_their_videos_out_of_following(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser) -> None:
    mia, zed, viewer = await _mia_zed_and_a_viewer(make_user)
    mias = await _videos(services, mia, 2)
    zeds = await _videos(services, zed, 2, first=START + timedelta(seconds=5))
    await _follow(client, viewer, mia)
    await _follow(client, viewer, zed)
    before = (await client.get("/api/videos", params={"feed": "following"},
                               headers=viewer.headers)).json()

    response = await client.delete(f"/api/hosts/{zed.id}/follow", headers=viewer.headers)
    after = (await client.get("/api/videos", params={"feed": "following"},
                              headers=viewer.headers)).json()

    assert response.status_code == 200
    assert {v["id"] for v in before["videos"]} == set(mias + zeds)
    assert [v["id"] for v in after["videos"]] == list(reversed(mias))


async def test_following_needs_a_viewer_and_says_when_they_follow_nobody(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser) -> None:
    mia, quiet = await make_user("host", name="Mia"), await make_user("host", name="Quiet")
    viewer = await make_user("viewer")
    await _videos(services, mia, 2)

    guest = await client.get("/api/videos", params={"feed": "following"})
    nobody = (await client.get("/api/videos", params={"feed": "following"},
                               headers=viewer.headers)).json()
    await _follow(client, viewer, quiet)
    no_videos = (await client.get("/api/videos", params={"feed": "following"},
                                  headers=viewer.headers)).json()

    assert guest.status_code == 401
    assert (guest.json()["error"]["code"], guest.json()["error"]["field"]) == \
        ("not_authenticated", "feed")
    assert (nobody["videos"], nobody["follows_anyone"]) == ([], False)
    assert (no_videos["videos"], no_videos["follows_anyone"]) == ([], True)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_an_unknown_feed_or_a_bad_cursor_is_a_422_naming_the_field(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser) -> None:
    viewer = await make_user("viewer")
    mia = await make_user("host", name="Mia")
    await _videos(services, mia, 2)
    bad_feeds = ["popular", "FOLLOWING", "for you"]
    bad_cursors = ["nonsense!", "x" * 200, _cursor("v1:abc:1"), _cursor("v2:1:1"),
                   _cursor("v1:1:0"), _cursor("v1:-5:3"), _cursor("v1:1"),
                   _cursor("v1:99999999999999999999999:1"), _cursor("v1:1:99999999999999999999")]

    for feed in bad_feeds:
        response = await client.get("/api/videos", params={"feed": feed}, headers=viewer.headers)
        assert response.status_code == 422, (feed, response.text)
        assert response.json()["error"]["field"] == "feed"
    for cursor in bad_cursors:
        for feed in ("for_you", "following"):
            response = await client.get("/api/videos", params={"feed": feed, "cursor": cursor},
                                        headers=viewer.headers)
            assert response.status_code == 422, (feed, cursor, response.text)
            assert response.json()["error"]["field"] == "cursor"
    # a cursor of this feed's own, past its last video, is simply an empty page
    last = _cursor(f"v1:{(START - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)}:1")
    empty = (await client.get("/api/videos", params={"cursor": last})).json()
    assert (empty["videos"], empty["next_cursor"]) == ([], None)


# The page ------------------------------------------------------------------------------------


async def test_the_page_has_a_tab_per_feed_and_says_what_an_empty_following_needs(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser) -> None:
    mia, zed, viewer = await _mia_zed_and_a_viewer(make_user)
    mias = await _videos(services, mia, 2)
    zeds = await _videos(services, zed, 1, first=START + timedelta(hours=1))

    for_you = await client.get("/videos")
    guest = await client.get("/videos", params={"feed": "following"})
    nobody = await client.get("/videos", params={"feed": "following"}, headers=viewer.headers)
    await _follow(client, viewer, mia)
    following = await client.get("/videos", params={"feed": "following"},
                                 headers=viewer.headers)
    unknown = await client.get("/videos", params={"feed": "popular"})

    # For you: both tabs, For you the current one, everyone's videos
    assert for_you.status_code == 200
    assert 'data-testid="feed-tab-for-you" aria-current="page"' in for_you.text
    assert all(f'href="/videos/{i}"' in for_you.text for i in mias + zeds)
    # a guest on Following is asked to sign in, and comes back to the tab after
    assert guest.status_code == 200 and 'data-testid="feed-sign-in"' in guest.text
    assert 'href="/login?next=/videos%3Ffeed%3Dfollowing"' in guest.text
    assert 'href="/videos/' not in guest.text
    # a viewer who follows nobody is pointed to hosts with new videos (newest first)
    assert 'data-testid="feed-follow-someone"' in nobody.text
    assert nobody.text.index(f'href="/hosts/{zed.id}"') < nobody.text.index(
        f'href="/hosts/{mia.id}"')
    # once following, the tab lists the followed host's videos only
    assert 'data-testid="feed-tab-following" aria-current="page"' in following.text
    assert all(f'href="/videos/{i}"' in following.text for i in mias)
    assert f'href="/videos/{zeds[0]}"' not in following.text
    assert unknown.status_code == 404


async def test_replays_count_as_ready_only_once_ready(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_room: Any) -> None:
    # a replay still transcoding is not in the feeds; once ready it is
    mia = await make_user("host", name="Mia")
    viewer = await make_user("viewer")
    room = await make_room(mia)
    replay = await _videos(services, mia, 1, status=VideoStatus.PROCESSING.value,
                           room_id=room["id"])
    await _follow(client, viewer, mia)
    params = {"feed": "following"}
    before = (await client.get("/api/videos", params=params, headers=viewer.headers)).json()

    async with services.db.transaction() as session:
        await session.execute(update(ShortVideo).where(ShortVideo.id == replay[0]).values(
            status=VideoStatus.READY.value, ready_at=START, renditions=[360]))
    after = (await client.get("/api/videos", params=params, headers=viewer.headers)).json()

    assert before["videos"] == []
    assert [v["id"] for v in after["videos"]] == replay
