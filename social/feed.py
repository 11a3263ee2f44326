"""The "Following" feed: ready short videos and replays of the hosts a viewer follows, newest
first, in the same keyset pages as everyone's feed (live/videos.py).

It lives here rather than in `live` because it joins `follows` (ours) to `short_videos`
(live's): `social` may read live's tables, and `live` knows nothing of follows
(docs/architecture.md). The order, the cursor and the page come from `live.videos`, so the two
feeds cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import select, true
from sqlalchemy.orm import aliased

from core.context import Services
from live.models import ShortVideo
from live.videos import FeedCursor, FeedPage, before, is_ready, newest_first, page_of
from social.models import Follow


async def following_videos(svc: Services, viewer_id: int, *, limit: int,
                           after: FeedCursor | None = None,
                           host_id: int | None = None) -> FeedPage:
    """A page of the followed hosts' ready videos after `after` (or of one of them, `host_id`).

    Per followed host, a LATERAL subquery takes at most a page of that host's videos past the
    cursor (`ix_short_videos_host_ready_feed`: an index range each), and the outer query keeps
    the newest `limit + 1` of those. The work is bounded by hosts followed x page size, however
    many videos everyone else has. A plain `host_id IN (followed)` lets the planner walk
    everyone's feed index backwards and probe follows row by row instead: cheap while the
    followed hosts post often, the whole index when they are quiet (docs/video.md, "The feeds").
    """
    per_host = select(ShortVideo).where(ShortVideo.host_id == Follow.host_id,
                                        is_ready(ShortVideo))
    if after is not None:
        per_host = per_host.where(before(ShortVideo, after))
    newest_of_host = (per_host.order_by(*newest_first(ShortVideo)).limit(limit + 1)
                      .lateral("newest_of_host"))
    video = aliased(ShortVideo, newest_of_host)
    query = (select(video).select_from(Follow).join(newest_of_host, true())
             .where(Follow.follower_id == viewer_id))
    if host_id is not None:
        query = query.where(Follow.host_id == host_id)
    query = query.order_by(*newest_first(video)).limit(limit + 1)
    async with svc.db.session() as session:
        rows = list(await session.scalars(query))
    return page_of(rows, limit)


async def follows_anyone(svc: Services, viewer_id: int) -> bool:
    async with svc.db.session() as session:
        return await session.scalar(select(Follow.host_id).where(
            Follow.follower_id == viewer_id).limit(1)) is not None
