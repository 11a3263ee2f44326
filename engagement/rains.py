"""Red envelope rains: drop, grab, settle, and the rebuild of a rain's Redis state.

- **Drop** (`drop_rain`): the host's pool is split by the seed into envelopes
  (`fairness.split_rain`), all written with the rain, its seed and the seed's hash, and the
  host's `rain_funded` ledger entry, in one transaction. The Redis state (the window, the list
  of envelopes to hand out) is then built, and the room hears the rain with its hash.
- **Grab** (`grab`): one Lua script pops the next envelope for the viewer (refusing a second
  grab, before the open, after the close); the grab is committed to PostgreSQL (batched,
  `engagement.grab_writer`) before the reply. Redis answers; PostgreSQL holds the truth.
- **Settle** (`settle_rain`): after the close, under the rain's row lock, every grab Redis
  handed out and PostgreSQL does not yet hold is committed, the unclaimed envelopes go back to
  the host as one `rain_returned` entry, and the seed is revealed.
- **Rebuild** (`rebuild_rain`): Redis lost a rain's keys: they are made again from PostgreSQL
  (the grabbers it holds, the envelopes nobody holds, in order). No committed grab is lost;
  a grab Redis handed out but never committed is forgotten, its envelope handed out again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, owns_or_ops
from core.clock import to_epoch_ms
from core.context import Services
from core.events import dispatch_committed, record
from core.redis import Keys, LuaScript
from core.states import transition
from engagement import fairness
from engagement.errors import (
    AlreadyGrabbed,
    CannotSplit,
    GrabConflict,
    HostCannotGrab,
    NotInRoom,
    NotRoomHost,
    RainEmpty,
    RainEnded,
    RainInProgress,
    RainNotFound,
    RainNotOpen,
    RoomNotFound,
    RoomNotLive,
)
from engagement.events import RainDropped, RainSettled
from engagement.grab_writer import Committed, Grab, GrabWriter
from engagement.models import (
    RAIN_MOVES,
    Envelope,
    Rain,
    RainStatus,
    WalletEntry,
    WalletKind,
    rooms_table,
)
from engagement.presence import present_key

log = logging.getLogger(__name__)

GRAB = LuaScript(Path(__file__).parent / "scripts" / "grab.lua")

# A rain's Redis keys outlive its close by this much: long enough for the settle to read who
# grabbed, short enough that rains of past shows do not pile up in memory.
KEYS_GRACE_MS = 3_600_000
# The settle waits this long past the close (by the database's clock) so that a grab Redis
# accepted in the last moment (by Redis's clock) has been handed out before the settle reads
# the grabbers.
SETTLE_GRACE = timedelta(seconds=1)
# Envelopes listed per Redis command when a rain's state is built: well under what one command
# should carry, and few round trips for the largest rain.
RPUSH_CHUNK = 1000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class RainKeys:
    meta: str
    envelopes: str
    grabbers: str

    @classmethod
    def of(cls, keys: Keys, room_id: int, rain_id: int) -> RainKeys:
        # Under the room's hash tag: the grab script touches these and the room's presence
        # marks (engagement/presence.py) on one cluster slot.
        return cls(keys.room(room_id, "rain", rain_id, "meta"),
                   keys.room(room_id, "rain", rain_id, "envelopes"),
                   keys.room(room_id, "rain", rain_id, "grabbers"))

    @property
    def all(self) -> list[str]:
        return [self.meta, self.envelopes, self.grabbers]


@dataclass(frozen=True)
class RainFacts:
    """What never changes of a rain, kept per process after the first read."""

    room_id: int
    currency: str


_facts: dict[int, RainFacts] = {}


async def rain_facts(svc: Services, rain_id: int) -> RainFacts:
    """A rain's room and currency: read from PostgreSQL once per process (a grab's keys are
    named by its room, and its reply says the currency), then from memory."""
    facts = _facts.get(rain_id)
    if facts is None:
        async with svc.db.session() as session:
            row = (await session.execute(select(Rain.room_id, Rain.currency).where(
                Rain.id == rain_id))).first()
        if row is None:
            raise RainNotFound(f"rain {rain_id} does not exist", field="rain_id")
        if len(_facts) > 10_000:
            _facts.clear()
        facts = _facts[rain_id] = RainFacts(int(row[0]), str(row[1]))
    return facts


@dataclass(frozen=True)
class RainTerms:
    envelope_count: int
    total_minor: int
    currency: str
    countdown_seconds: int
    duration_seconds: int
    min_minor: int


async def _room_for_host(session: AsyncSession, actor: Actor, room_id: int) -> Any:
    room = (await session.execute(
        select(rooms_table.c.id, rooms_table.c.host_id, rooms_table.c.status)
        .where(rooms_table.c.id == room_id).with_for_update())).first()
    if room is None:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    if not owns_or_ops(actor, room.host_id):
        raise NotRoomHost("only the room's host can do this", field="room_id")
    if room.status != "live":
        raise RoomNotLive(f"the room is {room.status}, not live", field="room_id")
    return room


async def drop_rain(svc: Services, actor: Actor, room_id: int, terms: RainTerms) -> Rain:
    """Drop a rain into a live room. Raises CannotSplit when the pool cannot give every envelope
    the minimum, RainInProgress when the room's last rain has not settled."""
    spare = terms.total_minor - terms.envelope_count * terms.min_minor
    if spare < 0:
        raise CannotSplit(
            f"{terms.total_minor} cannot give {terms.envelope_count} envelopes at least "
            f"{terms.min_minor} each (it needs {terms.envelope_count * terms.min_minor})",
            field="total_minor", extra={"needed_minor": terms.envelope_count * terms.min_minor})
    seed = fairness.new_seed()
    amounts = fairness.split_rain(seed, terms.total_minor, terms.envelope_count, terms.min_minor)
    async with svc.db.transaction() as session:
        room = await _room_for_host(session, actor, room_id)
        busy = await session.scalar(select(Rain.id).where(
            Rain.room_id == room_id, Rain.status == RainStatus.DROPPED.value).limit(1))
        if busy is not None:
            raise RainInProgress(f"rain {busy} of this room has not ended yet", field="room_id",
                                 extra={"rain_id": busy})
        opens_at = func.now() + timedelta(seconds=terms.countdown_seconds)
        rain = Rain(room_id=room_id, host_id=room.host_id, total_minor=terms.total_minor,
                    currency=terms.currency, envelope_count=terms.envelope_count,
                    min_minor=terms.min_minor, seed=seed, seed_hash=fairness.commitment(seed),
                    opens_at=opens_at,
                    closes_at=opens_at + timedelta(seconds=terms.duration_seconds))
        session.add(rain)
        await session.flush()
        await session.refresh(rain)
        await session.execute(insert(Envelope), [
            {"rain_id": rain.id, "seq": seq, "amount_minor": amount}
            for seq, amount in enumerate(amounts, start=1)])
        session.add(WalletEntry(user_id=room.host_id, currency=terms.currency,
                                amount_minor=-terms.total_minor,
                                kind=WalletKind.RAIN_FUNDED.value, rain_id=rain.id))
        record(session, RainDropped(rain.id, room_id))
    # Committed: the Redis state first, then the room hears of it.
    await _write_state(svc.redis, RainKeys.of(svc.keys, room_id, rain.id), rain,
                       list(enumerate(amounts, start=1)), {})
    await dispatch_committed(svc, session)
    return rain


async def _write_state(redis: aioredis.Redis, rk: RainKeys, rain: Rain,
                       unclaimed: list[tuple[int, int]], grabbers: dict[int, tuple[int, int]],
                       ) -> None:
    """Replace a rain's Redis keys in one MULTI: a grab sees the old state or the new, never a
    half-built one (a missing meta makes it rebuild, fail closed)."""
    closes_ms = to_epoch_ms(rain.closes_at)
    # A rain rebuilt long after its close (a late grab) keeps its keys a minute, not none.
    expires_ms = max(closes_ms + KEYS_GRACE_MS, int(time.time() * 1000) + 60_000)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(*rk.all)
    for start in range(0, len(unclaimed), RPUSH_CHUNK):
        pipe.rpush(rk.envelopes, *[f"{seq}:{amount}"
                                   for seq, amount in unclaimed[start:start + RPUSH_CHUNK]])
    if grabbers:
        pipe.hset(rk.grabbers, mapping={str(user): f"{seq}:{amount}"
                                        for user, (seq, amount) in grabbers.items()})
    pipe.hset(rk.meta, mapping={
        "opens_ms": to_epoch_ms(rain.opens_at), "closes_ms": closes_ms,
        "host": rain.host_id, "room": rain.room_id,
        "closed": "1" if rain.status == RainStatus.SETTLED.value else "0"})
    for key in rk.all:
        pipe.pexpireat(key, expires_ms)
    await pipe.execute()


async def rebuild_rain(svc: Services, rain_id: int) -> bool:
    """Make a rain's Redis keys again from PostgreSQL; False: no such rain."""
    async with svc.db.transaction() as session:
        # The row lock waits for grab batches writing now, so what is read below includes them.
        rain = await session.scalar(select(Rain).where(Rain.id == rain_id).with_for_update())
        if rain is None:
            return False
        rows = (await session.execute(
            select(Envelope.seq, Envelope.amount_minor, Envelope.user_id)
            .where(Envelope.rain_id == rain_id).order_by(Envelope.seq))).all()
    unclaimed = [(seq, amount) for seq, amount, user in rows if user is None]
    grabbers = {user: (seq, amount) for seq, amount, user in rows if user is not None}
    await _write_state(svc.redis, RainKeys.of(svc.keys, rain.room_id, rain_id), rain, unclaimed,
                       grabbers)
    log.info("rain %s rebuilt in Redis: %d grabbed, %d left", rain_id, len(grabbers),
             len(unclaimed))
    return True


@dataclass(frozen=True)
class GrabResult:
    rain_id: int
    seq: int
    amount_minor: int
    left: int
    currency: str


async def _committed_envelope(svc: Services, rain_id: int, user_id: int) -> Committed | None:
    async with svc.db.session() as session:
        row = (await session.execute(select(Envelope.seq, Envelope.amount_minor).where(
            Envelope.rain_id == rain_id, Envelope.user_id == user_id))).first()
    return Committed(rain_id, row[0], user_id, row[1]) if row is not None else None


async def grab(svc: Services, user_id: int, rain_id: int) -> GrabResult:
    """One grab: answered from Redis, committed to PostgreSQL before it returns."""
    from engagement.runtime import runtime_of

    facts = await rain_facts(svc, rain_id)
    rk = RainKeys.of(svc.keys, facts.room_id, rain_id)
    script = GRAB.bind(svc.redis)
    grab_keys = [*rk.all, present_key(svc.keys, facts.room_id)]
    raw = await script(keys=grab_keys, args=[user_id])
    if int(raw[0]) == -6:
        if not await rebuild_rain(svc, rain_id):
            raise RainNotFound(f"rain {rain_id} does not exist", field="rain_id")
        raw = await script(keys=grab_keys, args=[user_id])
    code = int(raw[0])
    runtime = runtime_of(svc)
    if code == 1:
        seq, left, room_id = int(raw[1]), int(raw[3]), int(raw[4])
        done = await _commit_grab(svc, runtime.writer, rk, rain_id, user_id, seq)
        runtime.ticker.changed(rain_id, room_id, left)
        return GrabResult(rain_id, done.seq, done.amount_minor, left, facts.currency)
    if code == -3:
        # The first grab stands. Make sure it is committed (its process may have died between
        # Redis and PostgreSQL), then refuse this one, naming the first.
        seq = int(raw[1])
        first = await _committed_envelope(svc, rain_id, user_id)
        if first is None:
            first = await _commit_grab(svc, runtime.writer, rk, rain_id, user_id, seq)
        raise AlreadyGrabbed("you already grabbed an envelope of this rain", field="rain_id",
                             extra={"seq": first.seq, "amount_minor": first.amount_minor})
    if code == -1:
        raise RainNotOpen("the rain has not opened yet", field="rain_id",
                          extra={"opens_at_ms": int(raw[1]), "server_time_ms": int(raw[2])})
    if code == -2:
        raise RainEnded("the rain has ended", field="rain_id")
    if code == -4:
        raise HostCannotGrab("the host cannot grab from their own rain", field="rain_id")
    if code == -5:
        raise RainEmpty("every envelope of this rain has been grabbed", field="rain_id")
    if code == -7:
        raise NotInRoom("only viewers in the room can grab: open the room to join the rain",
                        field="rain_id", extra={"room_id": facts.room_id})
    raise RainNotFound(f"rain {rain_id} is not available", field="rain_id")


async def _commit_grab(svc: Services, writer: GrabWriter, rk: RainKeys, rain_id: int,
                       user_id: int, seq: int) -> Committed:
    """PostgreSQL's copy of the envelope Redis handed out (`seq`). If it went to someone else
    there, the grab is forgotten in Redis and refused (as the rain having ended, if it has)."""
    try:
        return await writer.submit(Grab(rain_id, seq, user_id))
    except GrabConflict:
        await _forget_grabber(svc.redis, rk, user_id, seq)
        await _refuse_if_settled(svc, rain_id)
        raise


async def _forget_grabber(redis: aioredis.Redis, rk: RainKeys, user_id: int, seq: int) -> None:
    """The grab's envelope went to someone else in PostgreSQL: forget the grab in Redis (only
    if it still names that envelope), so a retry pops another."""
    current = await redis.hget(rk.grabbers, str(user_id))
    if current is not None and _text(current).split(":", 1)[0] == str(seq):
        await redis.hdel(rk.grabbers, str(user_id))


async def _refuse_if_settled(svc: Services, rain_id: int) -> None:
    async with svc.db.session() as session:
        status = await session.scalar(select(Rain.status).where(Rain.id == rain_id))
    if status == RainStatus.SETTLED.value:
        raise RainEnded("the rain ended before the grab was recorded", field="rain_id")


# Settle ------------------------------------------------------------------------------------


async def settle_rain(svc: Services, rain_id: int) -> bool:
    """Close a rain whose time is up (and the grace after it): commit every grab Redis handed
    out that PostgreSQL lacks, return the unclaimed envelopes to the host, reveal the seed.
    Idempotent: a settled rain, or one still running, is left as it is (returns False)."""
    transition(RAIN_MOVES, RainStatus.DROPPED, RainStatus.SETTLED, what="a rain")
    async with svc.db.transaction() as session:
        rain = await session.scalar(select(Rain).where(
            Rain.id == rain_id, Rain.status == RainStatus.DROPPED.value,
            Rain.closes_at + SETTLE_GRACE <= func.now()).with_for_update())
        if rain is None:
            return False
        rk = RainKeys.of(svc.keys, rain.room_id, rain_id)
        # Closed in Redis first: no grab is handed out after the grabbers are read. (The window
        # has passed by both clocks already, so this only matters if Redis's runs behind; and
        # should this transaction roll back, a closed rain after its close is still right.)
        await svc.redis.hset(rk.meta, "closed", "1")
        handed_out = await svc.redis.hgetall(rk.grabbers)
        rows = (await session.execute(
            select(Envelope.seq, Envelope.user_id).where(Envelope.rain_id == rain_id))).all()
        holder = {seq: user for seq, user in rows}
        holding = {user for user in holder.values() if user is not None}
        for raw_user, raw_value in handed_out.items():
            user_id = int(raw_user)
            seq = int(_text(raw_value).split(":", 1)[0])
            if user_id in holding or holder.get(seq) is not None:
                continue
            amount = await session.scalar(
                update(Envelope).where(Envelope.rain_id == rain_id, Envelope.seq == seq,
                                       Envelope.user_id.is_(None))
                .values(user_id=user_id, grabbed_at=func.now())
                .returning(Envelope.amount_minor))
            if amount is not None:
                session.add(WalletEntry(user_id=user_id, currency=rain.currency,
                                        amount_minor=amount, kind=WalletKind.ENVELOPE.value,
                                        rain_id=rain_id, envelope_seq=seq))
                holding.add(user_id)
                holder[seq] = user_id
        await session.flush()
        unclaimed = await session.scalar(
            select(func.coalesce(func.sum(Envelope.amount_minor), 0))
            .where(Envelope.rain_id == rain_id, Envelope.user_id.is_(None)))
        session.add(WalletEntry(user_id=rain.host_id, currency=rain.currency,
                                amount_minor=int(unclaimed or 0),
                                kind=WalletKind.RAIN_RETURNED.value, rain_id=rain_id))
        await session.execute(update(Rain).where(Rain.id == rain_id,
                                                 Rain.status == RainStatus.DROPPED.value)
                              .values(status=RainStatus.SETTLED.value, settled_at=func.now()))
        record(session, RainSettled(rain_id, rain.room_id))
    await dispatch_committed(svc, session)
    return True


async def settle_due_rains(svc: Services, *, limit: int = 100,
                           overdue_by: timedelta = timedelta(0)) -> list[int]:
    """Settle every rain whose time is up (for `overdue_by` more, the beat's backstop);
    returns the ones this call settled."""
    async with svc.db.session() as session:
        due = list(await session.scalars(
            select(Rain.id).where(Rain.status == RainStatus.DROPPED.value,
                                  Rain.closes_at + SETTLE_GRACE + overdue_by <= func.now())
            .order_by(Rain.closes_at).limit(limit)))
    settled = []
    for rain_id in due:
        try:
            if await settle_rain(svc, rain_id):
                settled.append(rain_id)
        except Exception:  # one rain's failure must not hold up the others; retried next tick
            log.exception("settling rain %s failed", rain_id)
    return settled


# Reads -------------------------------------------------------------------------------------


async def rain_view(svc: Services, rain: Rain) -> dict[str, Any]:
    """A rain as the room sees it: terms, window, hash (seed once settled), counts."""
    async with svc.db.session() as session:
        grabbed = await session.scalar(select(func.count()).where(
            Envelope.rain_id == rain.id, Envelope.user_id.is_not(None)))
        returned = None
        if rain.status == RainStatus.SETTLED.value:
            returned = await session.scalar(select(WalletEntry.amount_minor).where(
                WalletEntry.rain_id == rain.id,
                WalletEntry.kind == WalletKind.RAIN_RETURNED.value))
    return rain.public(grabbed=int(grabbed or 0), returned_minor=returned)


async def get_rain(svc: Services, rain_id: int) -> Rain:
    return await svc.db.get(Rain, rain_id, missing=RainNotFound(
        f"rain {rain_id} does not exist", field="rain_id"))


async def envelopes_of(svc: Services, rain_id: int) -> list[dict[str, Any]]:
    """Every envelope with its amount and grabber: published once the rain has settled."""
    async with svc.db.session() as session:
        rows = (await session.execute(
            select(Envelope.seq, Envelope.amount_minor, Envelope.user_id)
            .where(Envelope.rain_id == rain_id).order_by(Envelope.seq))).all()
    return [{"seq": seq, "amount_minor": amount, "user_id": user} for seq, amount, user in rows]


async def latest_rain(svc: Services, room_id: int) -> Rain | None:
    async with svc.db.session() as session:
        rain: Rain | None = await session.scalar(
            select(Rain).where(Rain.room_id == room_id).order_by(Rain.id.desc()).limit(1))
    return rain


async def balances(svc: Services, user_id: int) -> dict[str, int]:
    """A user's wallet: the sum of their entries, per currency."""
    async with svc.db.session() as session:
        rows = (await session.execute(
            select(WalletEntry.currency, func.sum(WalletEntry.amount_minor))
            .where(WalletEntry.user_id == user_id).group_by(WalletEntry.currency))).all()
    return {currency: int(total) for currency, total in rows}
