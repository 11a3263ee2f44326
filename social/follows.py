"""Follows and "remind me": a viewer follows a host, or asks to hear when a scheduled room
goes live. Both are rows a go-live alert reads (social/alerts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, Role, User
from core.context import Services
from live.errors import RoomNotFound
from live.models import Room, RoomStatus
from social.errors import CannotFollowSelf, NotAHost, RoomNotScheduled
from social.models import Follow, RoomReminder


@dataclass(frozen=True)
class FollowState:
    host_id: int
    following: bool
    followers: int

    def public(self) -> dict[str, object]:
        return {"host_id": self.host_id, "following": self.following,
                "followers": self.followers}


async def _check_host(session: AsyncSession, actor: Actor, host_id: int) -> None:
    if host_id == actor.id:
        raise CannotFollowSelf("you cannot follow yourself", field="host_id")
    role = await session.scalar(select(User.role).where(User.id == host_id))
    if role != Role.HOST:
        raise NotAHost(f"no host has id {host_id}", field="host_id")


async def follower_count(session: AsyncSession, host_id: int) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Follow).where(Follow.host_id == host_id)) or 0)


async def follow_state(session: AsyncSession, host_id: int, viewer_id: int | None) -> FollowState:
    following = False
    if viewer_id is not None:
        following = await session.scalar(select(Follow.host_id).where(
            Follow.host_id == host_id, Follow.follower_id == viewer_id)) is not None
    return FollowState(host_id, following, await follower_count(session, host_id))


async def follow(svc: Services, actor: Actor, host_id: int) -> FollowState:
    """Follow a host; following again changes nothing."""
    async with svc.db.transaction() as session:
        await _check_host(session, actor, host_id)
        await session.execute(insert(Follow).values(follower_id=actor.id, host_id=host_id)
                              .on_conflict_do_nothing())
    async with svc.db.session() as session:
        return await follow_state(session, host_id, actor.id)


async def unfollow(svc: Services, actor: Actor, host_id: int) -> FollowState:
    """Stop following a host; not following already changes nothing."""
    async with svc.db.transaction() as session:
        await _check_host(session, actor, host_id)
        await session.execute(delete(Follow).where(Follow.follower_id == actor.id,
                                                   Follow.host_id == host_id))
    async with svc.db.session() as session:
        return await follow_state(session, host_id, actor.id)


def followers_of(host_id: int) -> Select[int]:
    """The user ids following a host, as a query (engagement's draws that follow the host run
    it inside their own transaction: `engagement.draws.FollowersOf`)."""
    return select(Follow.follower_id).where(Follow.host_id == host_id)


async def followed_host_ids(session: AsyncSession, viewer_id: int) -> list[int]:
    return list(await session.scalars(select(Follow.host_id).where(
        Follow.follower_id == viewer_id).order_by(Follow.created_at.desc())))


async def new_follows_between(session: AsyncSession, host_id: int, start: datetime,
                              end: datetime) -> int:
    """Follows of `host_id` made in [start, end] that still stand (the broadcast report)."""
    return int(await session.scalar(
        select(func.count()).select_from(Follow).where(
            Follow.host_id == host_id, Follow.created_at >= start,
            Follow.created_at <= end)) or 0)


# Remind me ---------------------------------------------------------------------------------


async def _scheduled_room(session: AsyncSession, room_id: int) -> Room:
    room = await session.get(Room, room_id)
    if room is None:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    if room.status != RoomStatus.SCHEDULED:
        raise RoomNotScheduled(f"the room is {room.status}: only a scheduled room can be "
                               "subscribed to", field="room_id")
    return room


async def remind(svc: Services, actor: Actor, room_id: int) -> dict[str, object]:
    """Ask to be told when a scheduled room goes live; asking again changes nothing."""
    async with svc.db.transaction() as session:
        await _scheduled_room(session, room_id)
        await session.execute(insert(RoomReminder).values(user_id=actor.id, room_id=room_id)
                              .on_conflict_do_nothing())
    return await reminder_state(svc, room_id, actor.id)


async def cancel_reminder(svc: Services, actor: Actor, room_id: int) -> dict[str, object]:
    async with svc.db.transaction() as session:
        await session.execute(delete(RoomReminder).where(RoomReminder.user_id == actor.id,
                                                         RoomReminder.room_id == room_id))
    return await reminder_state(svc, room_id, actor.id)


async def reminder_state(svc: Services, room_id: int, user_id: int | None) -> dict[str, object]:
    async with svc.db.session() as session:
        count = int(await session.scalar(select(func.count()).select_from(RoomReminder).where(
            RoomReminder.room_id == room_id)) or 0)
        mine = user_id is not None and await session.scalar(select(RoomReminder.room_id).where(
            RoomReminder.room_id == room_id, RoomReminder.user_id == user_id)) is not None
    return {"room_id": room_id, "reminding": mine, "subscribers": count}


async def is_reminding(session: AsyncSession, room_id: int, user_id: int) -> bool:
    return await session.scalar(select(RoomReminder.room_id).where(
        RoomReminder.room_id == room_id, RoomReminder.user_id == user_id)) is not None
