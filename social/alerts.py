"""Go-live alerts: when a room goes live, each follower of its host (and each viewer who asked
to be reminded of that room) gets one in-app notification and, on their open pages, a
`notification` user event.

Run by a Celery task after the room's commit (`RoomWentLive` -> workers/handlers.py ->
`social.send_go_live_alert`), never in the request: a host with 100,000 followers means
100,000 rows. The recipients are walked by user id in batches of `SOCIAL_GO_LIVE_ALERT_BATCH`,
each batch one transaction whose INSERT ... ON CONFLICT (user_id, dedupe_key) DO NOTHING
RETURNING answers exactly the rows this run wrote: a second run (a redelivered message, the
sweep, two workers at once) writes and publishes nothing twice. The user events go out after
each batch's commit, the whole batch in one Redis round trip (`tell_users`); a crash between
a commit and its publishes loses those pages' live events, never the notifications, which the list and the badge read from PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, literal, select, union, update
from sqlalchemy.dialects.postgresql import insert

from core.accounts import User
from core.context import Services
from live.models import Room, RoomStatus
from social.models import Follow, GoLiveAlert, Notification, NotificationKind, RoomReminder
from social.notifications import tell_users, unread_counts

log = logging.getLogger(__name__)


def dedupe_key(room_id: int) -> str:
    return f"{NotificationKind.ROOM_LIVE.value}:{room_id}"


async def send_go_live_alert(svc: Services, room_id: int) -> int:
    """Notify the room's host's followers and its reminder subscribers; returns how many
    notifications this run wrote (0 when another run already had)."""
    settings = svc.settings.social
    async with svc.db.transaction() as session:
        row = (await session.execute(
            select(Room.id, Room.title, Room.host_id, Room.status, Room.started_at,
                   User.display_name, func.now())
            .join(User, User.id == Room.host_id).where(Room.id == room_id))).one_or_none()
        if row is None or row.status != RoomStatus.LIVE:
            return 0  # gone, or over before the alert ran: "is live" would be false
        await session.execute(insert(GoLiveAlert).values(room_id=room_id)
                              .on_conflict_do_nothing())
        finished = await session.scalar(select(GoLiveAlert.finished_at)
                                        .where(GoLiveAlert.room_id == room_id))
        if finished is not None:
            return 0
        too_late = (row.started_at is not None and row.now - row.started_at
                    > timedelta(seconds=settings.go_live_alert_max_age_seconds))
    if too_late:
        await _finish(svc, room_id, 0)
        return 0
    title = f"{row.display_name} is live"
    url = f"/rooms/{room_id}"
    key = dedupe_key(room_id)
    recipients = union(
        select(Follow.follower_id.label("user_id")).where(Follow.host_id == row.host_id),
        select(RoomReminder.user_id.label("user_id")).where(RoomReminder.room_id == room_id),
    ).subquery()
    after = 0
    written = 0
    while True:
        async with svc.db.transaction() as session:
            user_ids = list(await session.scalars(
                select(recipients.c.user_id).where(recipients.c.user_id > after,
                                                   recipients.c.user_id != row.host_id)
                .order_by(recipients.c.user_id).limit(settings.go_live_alert_batch)))
            if not user_ids:
                break
            inserted = (await session.execute(
                insert(Notification).from_select(
                    ["user_id", "kind", "dedupe_key", "title", "body", "url", "room_id",
                     "host_id"],
                    select(User.id, literal(NotificationKind.ROOM_LIVE.value), literal(key),
                           literal(title), literal(row.title), literal(url), literal(room_id),
                           literal(row.host_id)).where(User.id.in_(user_ids)))
                .on_conflict_do_nothing(constraint="uq_notifications_user_dedupe")
                .returning(Notification))).scalars().all()
            fresh = [notification.public() | {"user_id": notification.user_id,
                                              "host_name": row.display_name}
                     for notification in inserted]
            counts = await unread_counts(session, [n["user_id"] for n in fresh]) if fresh else {}
        after = user_ids[-1]
        written += len(fresh)
        try:
            await tell_users(svc, fresh, counts)
        except Exception:
            log.warning("could not tell %d users of room %s going live", len(fresh), room_id,
                        exc_info=True)
    await _finish(svc, room_id, written)
    return written


async def _finish(svc: Services, room_id: int, written: int) -> None:
    async with svc.db.transaction() as session:
        await session.execute(
            update(GoLiveAlert).where(GoLiveAlert.room_id == room_id,
                                      GoLiveAlert.finished_at.is_(None))
            .values(finished_at=func.now(), notified=GoLiveAlert.notified + written))


async def owed_go_live_alerts(svc: Services) -> list[int]:
    """Live rooms, gone live within the alert's age limit, whose alert has not finished: a
    task that was never enqueued (the broker was down) or died part-way."""
    max_age = timedelta(seconds=svc.settings.social.go_live_alert_max_age_seconds)
    async with svc.db.session() as session:
        return list(await session.scalars(
            select(Room.id).where(Room.status == RoomStatus.LIVE.value,
                                  Room.started_at > func.now() - max_age)
            .where(~select(GoLiveAlert.room_id).where(
                GoLiveAlert.room_id == Room.id, GoLiveAlert.finished_at.is_not(None)).exists())
            .order_by(Room.id)))
