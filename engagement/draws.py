"""Lucky draws (福袋): start with a committed seed, entries as viewers qualify, the draw at the
close by the published algorithm (`fairness.pick_winners`), and its verification.

Entry rules: `in_room` (the viewer taps Join, and counts if still in the room when the draw
closes: engagement/presence.py), `keyword` (the viewer sends a chat line containing the
keyword while the draw is open: the hub's chat listener, `KeywordListener`) and `follows`
(every follower of the host when the draw closes is entered at the close, in the draw's own
transaction). Follows are social's: the list is asked of a `FollowersOf` the caller passes in
(the web process's tick, the workers' backstop), as a followers-only coupon's claim is.

A draw is open, then drawn; nothing moves after (`DRAW_MOVES`, and the database refuses any
change to a drawn draw, or to an open draw's seed or terms: migration 0014's triggers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from core.accounts import Actor, User
from core.context import Services
from core.events import dispatch_committed, record, unit_of_work
from core.metrics import DRAW_KEYWORD_LINES_DROPPED
from core.states import transition
from engagement import fairness
from engagement.errors import (
    DrawClosed,
    DrawInProgress,
    DrawNotFound,
    EnterByFollowing,
    EnterByKeyword,
    HostCannotEnter,
)
from engagement.events import DrawDrawn, DrawEntered, DrawStarted
from engagement.models import DRAW_MOVES, Draw, DrawEntry, DrawStatus, EntryRule
from engagement.presence import present_users
from engagement.rains import _room_for_host

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrawTerms:
    prize: str
    winner_count: int
    rule: EntryRule
    keyword: str | None
    countdown_seconds: int


# social's "who follows this host": a query of the followers' user ids, run by the draw inside
# its own transaction (so the entrants are the followers as of the draw's commit).
FollowersOf = Callable[[int], Select[int]]


def keyword_key(svc: Services, room_id: int) -> str:
    """The room's open keyword draw, "draw_id:keyword", for the chat listener."""
    return svc.keys.room(room_id, "draw_keyword")


async def start_draw(svc: Services, actor: Actor, room_id: int, terms: DrawTerms) -> Draw:
    seed = fairness.new_seed()
    async with svc.db.transaction() as session:
        room = await _room_for_host(session, actor, room_id)
        busy = await session.scalar(select(Draw.id).where(
            Draw.room_id == room_id, Draw.status == DrawStatus.OPEN.value).limit(1))
        if busy is not None:
            raise DrawInProgress(f"draw {busy} of this room has not been drawn yet",
                                 field="room_id", extra={"draw_id": busy})
        draw = Draw(room_id=room_id, host_id=room.host_id, prize=terms.prize,
                    winner_count=terms.winner_count, rule=terms.rule.value,
                    keyword=terms.keyword if terms.rule == EntryRule.KEYWORD else None,
                    seed=seed, seed_hash=fairness.commitment(seed),
                    closes_at=func.now() + timedelta(seconds=terms.countdown_seconds))
        session.add(draw)
        await session.flush()
        await session.refresh(draw)
        record(session, DrawStarted(draw.id, room_id))
    if draw.keyword is not None:
        # Set once the draw is committed (a rolled-back draw never takes chat lines) and
        # before the room hears of it (no line of a viewer who saw the draw can miss it);
        # expires with the draw, and each entry is checked against the database anyway.
        await svc.redis.set(keyword_key(svc, room_id), f"{draw.id}:{draw.keyword}",
                            px=(terms.countdown_seconds + 60) * 1000)
    await dispatch_committed(svc, session)
    return draw


async def get_draw(svc: Services, draw_id: int) -> Draw:
    return await svc.db.get(Draw, draw_id, missing=DrawNotFound(
        f"draw {draw_id} does not exist", field="draw_id"))


async def _record_entry(svc: Services, draw_id: int, user_id: int, *,
                        rule: EntryRule) -> bool:
    """Enter a viewer while the draw is open (by the database's clock); True if new. The draw
    row is share-locked, so the draw (which locks it for update) sees every entry made
    before it, and none after."""
    async with unit_of_work(svc) as session:
        draw = await session.scalar(select(Draw).where(Draw.id == draw_id).with_for_update(
            read=True))
        if draw is None:
            raise DrawNotFound(f"draw {draw_id} does not exist", field="draw_id")
        if draw.rule == EntryRule.FOLLOWS.value:
            raise EnterByFollowing("follow the host to enter: every follower is in the draw "
                                   "when it closes", field="draw_id",
                                   extra={"host_id": draw.host_id})
        if draw.rule != rule.value:
            raise EnterByKeyword(f"send “{draw.keyword}” in the chat to enter",
                                 field="draw_id", extra={"keyword": draw.keyword})
        is_open = await session.scalar(select(Draw.closes_at > func.now()).where(
            Draw.id == draw_id))
        if draw.status != DrawStatus.OPEN.value or not is_open:
            raise DrawClosed("the draw has closed", field="draw_id")
        if user_id == draw.host_id:
            raise HostCannotEnter("the host cannot enter their own draw", field="draw_id")
        entered = await session.scalar(
            pg_insert(DrawEntry).values(draw_id=draw_id, user_id=user_id)
            .on_conflict_do_nothing(constraint="uq_draw_entries_draw_user")
            .returning(DrawEntry.id))
        if entered is not None:
            record(session, DrawEntered(draw_id, draw.room_id, user_id))
    return entered is not None


async def join_draw(svc: Services, user_id: int, draw_id: int) -> bool:
    """A viewer taps Join on an in-room draw; True if newly entered (a repeat is fine)."""
    return await _record_entry(svc, draw_id, user_id, rule=EntryRule.IN_ROOM)


# Lines of a room this process has not looked at lately look up the room's keyword in Redis,
# and the answer is kept this long. The key is set before the room hears of the draw, and a
# viewer reads it and types well after half a second: no line of a viewer who saw the draw is
# judged by a stale answer, and a room's chat costs at most two look-ups a second.
KEYWORD_FRESH_SECONDS = 0.5
# Entries (and look-ups) in flight per process at most: each entry is a transaction, and a
# flood of first-time keywords in a big room waits on PostgreSQL's pool. Past this a line is
# dropped and counted (livesell_draw_keyword_lines_dropped_total) rather than queued without
# bound; a viewer whose line was dropped can send the keyword again.
MAX_KEYWORD_TASKS = 500
# Draws whose (draw, viewer) pairs already entered are remembered, per process: past this many
# the memory starts over (a repeat then costs one more transaction, which enters nobody twice).
MAX_REMEMBERED_DRAWS = 1000
# Rooms whose last answer is kept: far more than one process serves at once.
MAX_REMEMBERED_ROOMS = 10_000


@dataclass(frozen=True)
class RoomKeyword:
    """A room's open keyword draw as this process last read it (draw_id None: none)."""

    draw_id: int | None
    keyword: str  # casefolded
    checked_at: float


async def read_room_keyword(svc: Services, room_id: int) -> RoomKeyword:
    current = await svc.redis.get(keyword_key(svc, room_id))
    if current is None:
        return RoomKeyword(None, "", time.monotonic())
    raw = current.decode() if isinstance(current, bytes) else str(current)
    draw_id_text, _, keyword = raw.partition(":")
    return RoomKeyword(int(draw_id_text), keyword.casefold(), time.monotonic())


class KeywordListener:
    """The hub's chat listener (realtime.hub.Hub.chat_listeners): called with each accepted
    line, returns at once.

    - A line of a room this process looked at in the last `KEYWORD_FRESH_SECONDS` costs one
      dict look-up (and, where a keyword draw is open, a substring test); otherwise a task
      reads the room's keyword from Redis, one read per room at a time shared by the lines
      that wait for it.
    - A line with the keyword enters its sender in a task of its own, once: the (draw, viewer)
      pairs entered (or refused for good) are remembered, so repeats cost nothing.
    - At most `MAX_KEYWORD_TASKS` tasks are in flight; past that, lines are dropped and
      counted."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.rooms: dict[int, RoomKeyword] = {}
        self.lookups: dict[int, asyncio.Future[RoomKeyword]] = {}
        # draw id -> the viewers entered (or being entered, or refused for good)
        self.entered: dict[int, set[int]] = {}
        self.tasks: set[asyncio.Task[bool]] = set()
        self.fresh_seconds = KEYWORD_FRESH_SECONDS
        self.max_tasks = MAX_KEYWORD_TASKS

    def __call__(self, room_id: int, user_id: int, text: str, _line_key: str) -> None:
        known = self.rooms.get(room_id)
        if known is not None and time.monotonic() - known.checked_at < self.fresh_seconds:
            if known.draw_id is None or known.keyword not in text.casefold():
                return
            if user_id in self.entered.get(known.draw_id, ()):
                return
            self._spawn(self._enter(known.draw_id, user_id))
            return
        self._spawn(self._look_up_and_enter(room_id, user_id, text))

    def _spawn(self, work: Coroutine[Any, Any, bool]) -> None:
        if len(self.tasks) >= self.max_tasks:
            work.close()
            DRAW_KEYWORD_LINES_DROPPED.inc()
            return
        task = asyncio.get_running_loop().create_task(work, name="draw-keyword")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _look_up_and_enter(self, room_id: int, user_id: int, text: str) -> bool:
        known = await self._look_up(room_id)
        if known.draw_id is None or known.keyword not in text.casefold():
            return False
        return await self._enter(known.draw_id, user_id)

    async def _look_up(self, room_id: int) -> RoomKeyword:
        waiting = self.lookups.get(room_id)
        if waiting is not None:
            return await asyncio.shield(waiting)
        waiting = self.lookups[room_id] = asyncio.get_running_loop().create_future()
        try:
            known = await read_room_keyword(self.svc, room_id)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                waiting.cancel()
            else:
                waiting.set_exception(exc)
                waiting.exception()  # marked retrieved: each waiter re-raises it itself
            raise
        finally:
            del self.lookups[room_id]
        before = self.rooms.get(room_id)
        if before is not None and before.draw_id not in (None, known.draw_id):
            self.entered.pop(before.draw_id, None)  # that draw is over: forget its entrants
        if len(self.rooms) > MAX_REMEMBERED_ROOMS:
            self.rooms.clear()  # rooms of past shows; the live ones are looked up again
        self.rooms[room_id] = known
        waiting.set_result(known)
        return known

    async def _enter(self, draw_id: int, user_id: int) -> bool:
        if len(self.entered) > MAX_REMEMBERED_DRAWS:
            self.entered.clear()
        done = self.entered.setdefault(draw_id, set())
        if user_id in done:
            return False
        done.add(user_id)
        try:
            return await _record_entry(self.svc, draw_id, user_id, rule=EntryRule.KEYWORD)
        except (DrawClosed, HostCannotEnter, DrawNotFound, EnterByKeyword):
            return False  # for good: a repeat of this viewer changes nothing either
        except BaseException:
            done.discard(user_id)  # not entered: a repeat tries again
            raise

    def _done(self, task: asyncio.Task[bool]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("keyword entry failed", exc_info=task.exception())

    async def close(self) -> None:
        """Cancel what is in flight (the process is stopping: nothing was entered by it)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# The draw -----------------------------------------------------------------------------------


async def run_draw(svc: Services, draw_id: int, followers_of: FollowersOf | None = None,
                   ) -> bool:
    """Draw a draw whose time is up: freeze the entrant list (sorted user ids; for in-room
    draws, the joined viewers still present; for follows draws, the host's followers, entered
    now), pick the winners from the seed, reveal the seed. Idempotent: returns False for a
    draw already drawn or still open (or a follows draw, without `followers_of`)."""
    transition(DRAW_MOVES, DrawStatus.OPEN, DrawStatus.DRAWN, what="a draw")
    async with unit_of_work(svc) as session:
        draw = await session.scalar(select(Draw).where(
            Draw.id == draw_id, Draw.status == DrawStatus.OPEN.value,
            Draw.closes_at <= func.now()).with_for_update())
        if draw is None:
            return False
        if draw.rule == EntryRule.FOLLOWS.value:
            if followers_of is None:
                log.warning("draw %s follows the host: left for a caller that knows follows",
                            draw_id)
                return False
            followers = followers_of(draw.host_id).subquery()
            follower = followers.c[0]
            await session.execute(
                pg_insert(DrawEntry).from_select(
                    ["draw_id", "user_id"],
                    select(literal(draw_id), follower).where(follower != draw.host_id))
                .on_conflict_do_nothing(constraint="uq_draw_entries_draw_user"))
        entered = list(await session.scalars(
            select(DrawEntry.user_id).where(DrawEntry.draw_id == draw_id)
            .order_by(DrawEntry.user_id)))
        if draw.rule == EntryRule.IN_ROOM.value:
            present = await present_users(svc.redis, svc.keys, draw.room_id)
            entrants = [user for user in entered if user in present]
        else:
            entrants = entered
        winners = fairness.pick_winners(draw.seed, entrants, draw.winner_count)
        await session.execute(update(Draw).where(Draw.id == draw_id,
                                                 Draw.status == DrawStatus.OPEN.value)
                              .values(status=DrawStatus.DRAWN.value, entrants=entrants,
                                      winners=winners, drawn_at=func.now()))
        record(session, DrawDrawn(draw_id, draw.room_id))
    if draw.keyword is not None:
        await svc.redis.delete(keyword_key(svc, draw.room_id))
    return True


async def draw_due(svc: Services, *, limit: int = 100, overdue_by: timedelta = timedelta(0),
                   followers_of: FollowersOf | None = None) -> list[int]:
    """Draw every draw whose time is up (for `overdue_by` more, the beat's backstop); returns
    the ones this call drew. (Who is in the room is marked apart: engagement/presence.py.)"""
    async with svc.db.session() as session:
        due = list(await session.scalars(
            select(Draw.id).where(Draw.status == DrawStatus.OPEN.value,
                                  Draw.closes_at + overdue_by <= func.now())
            .order_by(Draw.closes_at).limit(limit)))
    drawn = []
    for draw_id in due:
        try:
            if await run_draw(svc, draw_id, followers_of):
                drawn.append(draw_id)
        except Exception:
            log.exception("drawing draw %s failed", draw_id)
    return drawn


# Reads -------------------------------------------------------------------------------------


async def names_of(svc: Services, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    async with svc.db.session() as session:
        rows = (await session.execute(select(User.id, User.display_name)
                                      .where(User.id.in_(user_ids)))).all()
    return {user_id: name for user_id, name in rows}


async def draw_view(svc: Services, draw: Draw) -> dict[str, Any]:
    """A draw as the room sees it; once drawn, the winners with their names."""
    async with svc.db.session() as session:
        entries = await session.scalar(select(func.count()).where(DrawEntry.draw_id == draw.id))
    view = draw.public(entries=int(entries or 0))
    view["entrants_count"] = len(draw.entrants) if draw.entrants is not None else None
    if draw.winners is not None:
        names = await names_of(svc, list(draw.winners))
        view["winner_names"] = [{"id": w, "display_name": names.get(w, "")}
                                for w in draw.winners]
    return view


async def entry_of(svc: Services, draw_id: int, user_id: int) -> bool:
    async with svc.db.session() as session:
        found = await session.scalar(select(DrawEntry.id).where(
            DrawEntry.draw_id == draw_id, DrawEntry.user_id == user_id))
    return found is not None


async def entered_users(svc: Services, draw_id: int) -> list[int]:
    async with svc.db.session() as session:
        return list(await session.scalars(select(DrawEntry.user_id).where(
            DrawEntry.draw_id == draw_id)))


async def latest_draw(svc: Services, room_id: int) -> Draw | None:
    async with svc.db.session() as session:
        draw: Draw | None = await session.scalar(
            select(Draw).where(Draw.room_id == room_id).order_by(Draw.id.desc()).limit(1))
    return draw


@dataclass(frozen=True)
class Verification:
    commitment_ok: bool
    recomputed: list[int]
    winners_ok: bool


def verify(seed_hex: str, seed_hash: str, entrants: list[int], winner_count: int,
           winners: list[int]) -> Verification:
    """Recompute a drawn draw from its published data."""
    seed = bytes.fromhex(seed_hex)
    recomputed = fairness.pick_winners(seed, entrants, winner_count)
    return Verification(fairness.commitment(seed) == seed_hash, recomputed,
                        recomputed == list(winners))
