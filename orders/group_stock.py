"""Group deals' counters in Redis: the keys, and the Lua scripts that are their only writers.
PostgreSQL (the deal's `units` and `returned_units`, its groups and their orders) is the truth
they are rebuilt from (`orders.groups.rebuild_deal`).

Every key of a deal shares the hash tag `{deal id}`, so one script can move a group's slots
and the deal's units together on Redis Cluster:

- `gdeal:{D}`: the deal's units, `available` (not set aside), `held` (set aside for open
  groups, not yet paid for) and `sold` (paid members' units, of open or formed groups);
  `units - returned_units = available + held + sold` at every moment.
- `gdeal:{D}:g:G`: group G's `state` (open, formed, failed), `size`, `taken` (slots held or
  paid), `paid` and `deadline_ms`.
- `gdeal:{D}:g:G:m`: its members, user -> `h:<order>` (held while paying), `p:<order>` (paid),
  `r:<order>` (refunded after it formed). Every script that moves a unit checks and changes a
  member's mark in the same step, so each move happens once whatever the interleaving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from core.redis import Keys, LuaScript

SCRIPTS = Path(__file__).parent / "scripts"
OPEN = LuaScript(SCRIPTS / "group_open.lua")
JOIN = LuaScript(SCRIPTS / "group_join.lua")
RELEASE = LuaScript(SCRIPTS / "group_release.lua")
SELL = LuaScript(SCRIPTS / "group_sell.lua")
CLOSE = LuaScript(SCRIPTS / "group_close.lua")
REFUND_UNIT = LuaScript(SCRIPTS / "group_refund_unit.lua")

# Script answers.
MISSING = -1
ALREADY_IN_GROUP = -2
SOLD_OUT = -3
FAILED = -4
FORMED = -5
EXPIRED = -6
FULL = -7

# The fence between a join's (or an open's) script and a rebuild of the deal's keys: a
# PostgreSQL advisory lock per deal in this namespace ("GB"), held shared from before the
# script to the commit, exclusive by the rebuild, which so sees every join committed or rolled
# back (as a coupon's claims are fenced, orders/coupons.py).
ADVISORY_NAMESPACE = 0x4742



@dataclass(frozen=True, slots=True)
class DealKeys:
    counts: str
    base: str

    @classmethod
    def of(cls, keys: Keys, deal_id: int) -> DealKeys:
        base = f"{keys.prefix}gdeal:{{{deal_id}}}"
        return cls(counts=base, base=base)

    def group(self, group_id: int) -> str:
        return f"{self.base}:g:{group_id}"

    def members(self, group_id: int) -> str:
        return f"{self.base}:g:{group_id}:m"


def mark(state: str, order_id: int) -> str:
    """A member's mark in the members hash: `h` held, `p` paid, `r` refunded."""
    return f"{state}:{order_id}"


@dataclass(frozen=True, slots=True)
class DealCounts:
    available: int
    held: int
    sold: int

    @property
    def total(self) -> int:
        return self.available + self.held + self.sold


@dataclass(frozen=True, slots=True)
class GroupSlots:
    state: str
    size: int
    taken: int
    paid: int
    deadline_ms: int


async def open_group(redis: aioredis.Redis, dk: DealKeys, group_id: int, *, user_id: int,
                     order_id: int, size: int, deadline_ms: int) -> int:
    return int(await OPEN.bind(redis)(
        keys=[dk.counts, dk.group(group_id), dk.members(group_id)],
        args=[user_id, order_id, size, deadline_ms]))


async def join_group(redis: aioredis.Redis, dk: DealKeys, group_id: int, *, user_id: int,
                     order_id: int) -> int:
    return int(await JOIN.bind(redis)(keys=[dk.group(group_id), dk.members(group_id)],
                                      args=[user_id, order_id]))


async def release_slot(redis: aioredis.Redis, dk: DealKeys, group_id: int, *, user_id: int,
                       order_id: int) -> int:
    return int(await RELEASE.bind(redis)(keys=[dk.group(group_id), dk.members(group_id)],
                                         args=[user_id, order_id]))


async def sell_slot(redis: aioredis.Redis, dk: DealKeys, group_id: int, *, user_id: int,
                    order_id: int, formed: bool) -> int:
    return int(await SELL.bind(redis)(
        keys=[dk.counts, dk.group(group_id), dk.members(group_id)],
        args=[user_id, order_id, "1" if formed else "0"]))


async def close_group(redis: aioredis.Redis, dk: DealKeys, group_id: int) -> int:
    return int(await CLOSE.bind(redis)(keys=[dk.counts, dk.group(group_id)], args=[]))


async def refund_unit(redis: aioredis.Redis, dk: DealKeys, group_id: int, *, user_id: int,
                      order_id: int, to_product: bool) -> int:
    return int(await REFUND_UNIT.bind(redis)(
        keys=[dk.counts, dk.members(group_id)],
        args=[user_id, order_id, "1" if to_product else "0"]))


async def read_counts(redis: aioredis.Redis, dk: DealKeys) -> DealCounts | None:
    values = await redis.hmget(dk.counts, ["available", "held", "sold"])
    if any(v is None for v in values):
        return None
    return DealCounts(*(int(v or 0) for v in values))


async def read_slots(redis: aioredis.Redis, dk: DealKeys, group_id: int) -> GroupSlots | None:
    values = await redis.hmget(dk.group(group_id), ["state", "size", "taken", "paid",
                                                    "deadline_ms"])
    if any(v is None for v in values):
        return None
    state = values[0].decode() if isinstance(values[0], bytes) else str(values[0])
    return GroupSlots(state, *(int(v or 0) for v in values[1:]))


@dataclass(frozen=True, slots=True)
class GroupState:
    """What a rebuild writes for one group."""

    group_id: int
    state: str
    size: int
    taken: int
    paid: int
    deadline_ms: int
    members: dict[int, str]


async def write_deal(redis: aioredis.Redis, dk: DealKeys, counts: DealCounts,
                     groups: list[GroupState]) -> None:
    """A rebuild's result, in one MULTI: the deal's counters and every group's slots. (Keys of
    a group whose open never committed stay, unread: a join reads the group's row first.)"""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(dk.counts, mapping={"available": counts.available, "held": counts.held,
                                      "sold": counts.sold})
        for group in groups:
            pipe.delete(dk.group(group.group_id), dk.members(group.group_id))
            pipe.hset(dk.group(group.group_id), mapping={
                "state": group.state, "size": group.size, "taken": group.taken,
                "paid": group.paid, "deadline_ms": group.deadline_ms})
            if group.members:
                pipe.hset(dk.members(group.group_id),
                          mapping={str(u): m for u, m in group.members.items()})
        await pipe.execute()
