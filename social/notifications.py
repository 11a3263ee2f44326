"""A user's in-app notifications: the list, the unread count, marking read, and telling the
user's open pages (a `notification` user event, after the commit)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import User
from core.context import Services
from realtime.publish import ServerEvent, UserEvent, publish_users
from social.errors import NotificationNotFound
from social.models import Notification

# A page of the list: more than anyone reads at once; older ones are a "more" away.
PAGE_SIZE = 50


async def unread_count(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


async def unread_counts(session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Notification.user_id, func.count()).where(
            Notification.user_id.in_(user_ids), Notification.read_at.is_(None))
        .group_by(Notification.user_id))
    return {int(user_id): int(count) for user_id, count in rows.all()}


async def list_notifications(svc: Services, user_id: int, *, before_id: int | None = None,
                             limit: int = PAGE_SIZE) -> dict[str, object]:
    async with svc.db.session() as session:
        # The host's name comes along so that a page can say "{name} is live" in its reader's
        # language (the stored title is the API's English).
        query = (select(Notification, User.display_name)
                 .outerjoin(User, User.id == Notification.host_id)
                 .where(Notification.user_id == user_id)
                 .order_by(Notification.id.desc()).limit(limit))
        if before_id is not None:
            query = query.where(Notification.id < before_id)
        rows = (await session.execute(query)).all()
        unread = await unread_count(session, user_id)
    return {"notifications": [row.public() | {"host_name": host_name} for row, host_name in rows],
            "unread": unread}


async def mark_read(svc: Services, user_id: int, notification_id: int | None) -> int:
    """Mark one notification (or, with None, all of them) read; returns the unread count."""
    async with svc.db.transaction() as session:
        query = update(Notification).where(Notification.user_id == user_id,
                                           Notification.read_at.is_(None))
        if notification_id is not None:
            exists = await session.scalar(select(Notification.id).where(
                Notification.id == notification_id, Notification.user_id == user_id))
            if exists is None:
                raise NotificationNotFound(f"no notification {notification_id} of yours",
                                           field="notification_id")
            query = query.where(Notification.id == notification_id)
        await session.execute(query.values(read_at=func.now()))
        return await unread_count(session, user_id)


async def tell_users(svc: Services, notifications: list[dict[str, object]],
                     unread: dict[int, int]) -> None:
    """The users' open pages hear of their committed notifications (each with its `user_id`,
    and the user's new unread count), all in one Redis round trip: a go-live alert's batch
    of followers costs one call, not one each."""
    events = []
    for notification in notifications:
        user_id = notification.pop("user_id")
        if not isinstance(user_id, int):
            raise TypeError(f"a notification's user_id is {user_id!r}")
        events.append(UserEvent(user_id, ServerEvent.NOTIFICATION,
                                {**notification, "unread": unread.get(user_id, 1)}))
    await publish_users(svc.redis, svc.keys, events)
