"""A flash sale's stock in Redis: the keys, and the Lua scripts that are the only writers.

Every key of one sale shares the Redis Cluster hash tag `{sale_id}`, so that one script may
touch them all. Redis holds the fast, atomic copy; PostgreSQL is the truth it is rebuilt
from (`orders.reconcile.reconcile_sale`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import redis.asyncio as aioredis

from core.redis import Keys, LuaScript

SCRIPTS = Path(__file__).parent / "scripts"
RESERVE = LuaScript(SCRIPTS / "reserve.lua")
RELEASE = LuaScript(SCRIPTS / "release.lua")
SETTLE = LuaScript(SCRIPTS / "settle.lua")
REBUILD = LuaScript(SCRIPTS / "rebuild.lua")
END_NOW = LuaScript(SCRIPTS / "end_now.lua")
REMEMBER_REPLIES = LuaScript(SCRIPTS / "remember_replies.lua")

# Reservation numbers of epoch E start at E * EPOCH_STRIDE, so a reservation made before a
# rebuild can never share a number with one made after it (a billion buys per epoch is
# far beyond any one sale).
EPOCH_STRIDE = 1_000_000_000

# An order must be in PostgreSQL this long after its reservation, or the unwritten-hold sweep
# gives its units back (docs/decisions/0013). A healthy writer commits within milliseconds and
# a loaded one within a few hundred; 5 s is far past that, yet short enough that a buyer whose
# process died can buy again well before they give up.
WRITE_DEADLINE_MS = 5_000


class ReserveCode(IntEnum):
    RESERVED = 1
    NOT_STARTED = -1
    ENDED = -2
    DUPLICATE = -3
    LIMIT_REACHED = -4
    SOLD_OUT = -5
    MISSING = -6
    PAUSED = -7


class SettleCode(IntEnum):
    SETTLED = 1
    RERESERVED = 2
    ALREADY_SOLD = 0
    LIMIT_REACHED = -4
    SOLD_OUT = -5
    MISSING = -6


MISSING = -6


@dataclass(frozen=True)
class SaleKeys:
    meta: str
    stock: str
    users: str
    idem: str
    holds: str
    unwritten: str
    replies: str
    rebuild_lock: str

    @classmethod
    def of(cls, keys: Keys, sale_id: int) -> SaleKeys:
        """The sale's keys (kept: every buy of a sale asks for the same eight names)."""
        known = _sale_keys.get((keys.prefix, sale_id))
        if known is None:
            if len(_sale_keys) >= SALE_KEYS_KEPT:
                _sale_keys.clear()
            known = _sale_keys[(keys.prefix, sale_id)] = cls._of(keys, sale_id)
        return known

    @classmethod
    def _of(cls, keys: Keys, sale_id: int) -> SaleKeys:
        return cls(
            meta=keys.sale(sale_id, "meta"),
            stock=keys.sale(sale_id, "stock"),
            users=keys.sale(sale_id, "users"),
            idem=keys.sale(sale_id, "idem"),
            holds=keys.sale(sale_id, "holds"),
            unwritten=keys.sale(sale_id, "unwritten"),
            replies=keys.sale(sale_id, "replies"),
            rebuild_lock=keys.sale(sale_id, "rebuild"),
        )

    @property
    def script_keys(self) -> list[str]:
        return [self.meta, self.stock, self.users, self.idem, self.holds, self.unwritten,
                self.replies]


# SaleKeys.of's names, by (key prefix, sale id); emptied when this many sales were asked for.
SALE_KEYS_KEPT = 10_000
_sale_keys: dict[tuple[str, int], SaleKeys] = {}


@dataclass(frozen=True)
class ReserveResult:
    code: ReserveCode
    reservation_no: int = 0
    epoch: int = 0
    now_ms: int = 0
    available: int = 0
    held: int = 0
    terms: SaleTerms | None = None
    # DUPLICATE: the first reply as the buyer got it, once its order is committed (b"" before)
    reply: bytes = b""


@dataclass(frozen=True)
class SaleTerms:
    """The parts of a sale that never change, kept in its Redis meta for the buy path."""

    room_id: int
    product_id: int
    price_minor: int
    currency: str


@dataclass(frozen=True)
class Counts:
    available: int
    reserved: int
    sold: int


def stock_data(sale_id: int, counts: Counts) -> dict[str, int]:
    """The counters as the room hears them (the `stock` event and room state)."""
    return {"sale_id": sale_id, "remaining": counts.available, "reserved": counts.reserved,
            "sold": counts.sold}


def idem_field(user_id: int, idempotency_key: str) -> str:
    return f"{user_id}:{idempotency_key}"


async def reserve(redis: aioredis.Redis, sk: SaleKeys, user_id: int, idempotency_key: str,
                  quantity: int) -> ReserveResult:
    raw = await RESERVE.call(redis, sk.script_keys,
                             [user_id, idempotency_key, quantity, WRITE_DEADLINE_MS])
    code = ReserveCode(int(raw[0]))
    if code == ReserveCode.RESERVED:
        currency = raw[8].decode() if isinstance(raw[8], bytes) else str(raw[8])
        return ReserveResult(code, reservation_no=int(raw[1]), epoch=int(raw[2]),
                             now_ms=int(raw[3]), available=int(raw[4]),
                             terms=SaleTerms(int(raw[5]), int(raw[6]), int(raw[7]), currency))
    if code == ReserveCode.DUPLICATE:
        reply = raw[4] if len(raw) > 4 and isinstance(raw[4], bytes) else b""
        return ReserveResult(code, reservation_no=int(raw[1]), epoch=int(raw[2]),
                             now_ms=int(raw[3]), reply=reply)
    values = [int(v) for v in raw[1:]]
    if code in (ReserveCode.NOT_STARTED, ReserveCode.ENDED):
        return ReserveResult(code, now_ms=values[0])
    if code == ReserveCode.LIMIT_REACHED:
        return ReserveResult(code, held=values[0])
    if code == ReserveCode.SOLD_OUT:
        return ReserveResult(code, available=values[0])
    return ReserveResult(code)


async def release(redis: aioredis.Redis, sk: SaleKeys, reservation_no: int, *, sold: bool = False,
                  forget_key: str = "") -> int:
    """1 released, 0 nothing to release (already done), -6 keys missing. `forget_key` is
    forgotten only while it still names this reservation."""
    result = await RELEASE.bind(redis)(
        keys=sk.script_keys,
        args=[reservation_no, "s" if sold else "r", forget_key])
    return int(result)


@dataclass(frozen=True)
class Unwritten:
    """A reservation whose order was due in PostgreSQL by now (an entry of the unwritten zset)."""

    member: str
    reservation_no: int
    idem_field: str


async def overdue_unwritten(redis: aioredis.Redis, sk: SaleKeys, *, limit: int) -> list[Unwritten]:
    """The oldest reservations past their write deadline, by Redis TIME (the clock the reserve
    script dated them with)."""
    now_ms = await redis_time_ms(redis)
    members = await redis.zrangebyscore(sk.unwritten, "-inf", now_ms, start=0, num=limit)
    overdue = []
    for raw in members:
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        reservation, _, field = member.partition(":")
        overdue.append(Unwritten(member, int(reservation), field))
    return overdue


async def forget_unwritten(redis: aioredis.Redis, sk: SaleKeys, members: list[str]) -> None:
    """Drop entries whose order turned out to be written (or whose hold is gone)."""
    if members:
        await redis.zrem(sk.unwritten, *members)


async def settle(redis: aioredis.Redis, sk: SaleKeys, reservation_no: int, *, user_id: int,
                 quantity: int, idem: str, enforce_limit: bool = True) -> SettleCode:
    result = await SETTLE.bind(redis)(
        keys=sk.script_keys,
        args=[reservation_no, user_id, quantity, 1 if enforce_limit else 0, idem])
    return SettleCode(int(result))


async def end_now(redis: aioredis.Redis, sk: SaleKeys) -> int:
    return int(await END_NOW.bind(redis)(keys=[sk.meta], args=[]))


async def pause(redis: aioredis.Redis, sk: SaleKeys) -> None:
    # HSET on a missing meta creates a meta without a window, which the buy script treats as
    # missing (fail closed) just the same.
    await redis.hset(sk.meta, "paused", "1")


async def redis_time_ms(redis: aioredis.Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def read_counts(redis: aioredis.Redis, sk: SaleKeys) -> Counts | None:
    raw = await redis.hmget(sk.stock, ["available", "reserved", "sold"])
    if any(v is None for v in raw):
        return None
    return Counts(*(int(v) for v in raw if v is not None))


@dataclass
class Rebuild:
    start_ms: int
    end_ms: int
    per_user_limit: int
    epoch: int
    initial: int
    available: int
    reserved: int
    sold: int
    ttl_ms: int
    terms: SaleTerms
    users: dict[int, int]
    idem: dict[str, int]
    holds: dict[int, str]


async def rebuild(redis: aioredis.Redis, sk: SaleKeys, data: Rebuild) -> None:
    args: list[object] = [data.start_ms, data.end_ms, data.per_user_limit, data.epoch,
                          data.available, data.reserved, data.sold, data.epoch * EPOCH_STRIDE,
                          data.ttl_ms, data.initial,
                          f"{data.terms.room_id}:{data.terms.product_id}:"
                          f"{data.terms.price_minor}:{data.terms.currency}"]
    for mapping in (data.users, data.idem, data.holds):
        args.append(len(mapping))
        for field, value in mapping.items():
            args.extend((field, value))
    await REBUILD.bind(redis)(keys=sk.script_keys, args=args)


# The script unpacks its arguments onto Lua's C stack, which holds some 8,000 values: a call
# keeps at most this many replies (two values each).
REPLIES_PER_CALL = 1000


async def remember_replies(redis: aioredis.Redis, sk: SaleKeys, replies: dict[str, bytes]) -> int:
    """Keep the first replies of committed orders (idempotency field -> reply JSON) for as long
    as the sale's keys live; returns how many were kept (0: the keys are gone)."""
    kept = 0
    items = list(replies.items())
    for start in range(0, len(items), REPLIES_PER_CALL):
        args: list[object] = []
        for field, reply in items[start:start + REPLIES_PER_CALL]:
            args.extend((field, reply))
        kept += int(await REMEMBER_REPLIES.bind(redis)(keys=[sk.replies, sk.stock], args=args))
    return kept
