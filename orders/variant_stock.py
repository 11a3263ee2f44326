"""Variants' regular-price stock in Redis: the keys, and the Lua scripts that are their only
writers. PostgreSQL (`product_variants.stock` and the orders' lines) is the truth they are
rebuilt from (`orders.variants.reconcile_variant`).

Every key of one host's variants shares the Redis Cluster hash tag `{host_id}`: the lines of a
cart are all products of one room, so of one host, and one script holds them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from core.redis import Keys, LuaScript

SCRIPTS = Path(__file__).parent / "scripts"
HOLD_LINES = LuaScript(SCRIPTS / "hold_lines.lua")
RELEASE_LINES = LuaScript(SCRIPTS / "release_lines.lua")
SELL_LINES = LuaScript(SCRIPTS / "sell_lines.lua")
REBUILD_VARIANT = LuaScript(SCRIPTS / "rebuild_variant.lua")
TAKE_UNITS = LuaScript(SCRIPTS / "take_units.lua")
RETURN_UNITS = LuaScript(SCRIPTS / "return_units.lua")

HELD = 1
ALREADY_HOLDS = -3
NOT_ENOUGH = -5
MISSING = -6


# The fence between a buy's hold and the moves that recount a variant (docs/decisions/0017): a
# PostgreSQL advisory lock per variant, in this namespace ("VS"). A buy holds it shared from
# before its Redis hold to its commit; a rebuild, a change of stock and the unwritten-hold
# sweep hold it exclusive. Advisory locks live in the lock manager: many buyers of one variant
# sharing it write nothing to its row (a `FOR SHARE` would make each of them rewrite the row's
# lockers, one after the other).
ADVISORY_NAMESPACE = 0x5653



@dataclass(frozen=True, slots=True)
class VariantKeys:
    stock: str
    holds: str


def variant_keys(keys: Keys, host_id: int, variant_id: int) -> VariantKeys:
    base = keys("vstock", "{" + str(host_id) + "}", "v", variant_id)
    return VariantKeys(stock=base, holds=base + ":holds")


def unwritten_key(keys: Keys, host_id: int) -> str:
    return keys("vstock", "{" + str(host_id) + "}", "unwritten")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an order as the scripts see it."""

    variant_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class HoldResult:
    code: int
    # 0-based index of the line that was refused (NOT_ENOUGH, MISSING, ALREADY_HOLDS)
    line: int = -1
    available: int = 0


@dataclass(frozen=True, slots=True)
class Counts:
    initial: int
    available: int
    held: int
    sold: int


def _line_keys(keys: Keys, host_id: int, lines: list[Line]) -> list[str]:
    out: list[str] = []
    for line in lines:
        vk = variant_keys(keys, host_id, line.variant_id)
        out.extend((vk.stock, vk.holds))
    return out


def unwritten_member(order_id: int, user_id: int, lines: list[Line]) -> str:
    return f"{order_id}:{user_id}:" + ",".join(str(line.variant_id) for line in lines)


def parse_unwritten(member: str) -> tuple[int, int, list[int]]:
    order, user, variants = member.split(":")
    return int(order), int(user), [int(v) for v in variants.split(",")]


async def hold(redis: aioredis.Redis, keys: Keys, host_id: int, order_id: int, user_id: int,
               lines: list[Line], *, write_deadline_ms: int) -> HoldResult:
    raw = await HOLD_LINES.bind(redis)(
        keys=[*_line_keys(keys, host_id, lines), unwritten_key(keys, host_id)],
        args=[order_id, user_id, write_deadline_ms, unwritten_member(order_id, user_id, lines),
              *(line.quantity for line in lines)])
    code = int(raw[0])
    if code == HELD:
        return HoldResult(code)
    if code == NOT_ENOUGH:
        return HoldResult(code, line=int(raw[1]) - 1, available=int(raw[2]))
    return HoldResult(code, line=int(raw[1]) - 1)


async def release(redis: aioredis.Redis, keys: Keys, host_id: int, order_id: int,
                  variant_ids: list[int], *, sold: bool = False) -> int:
    """Lines released (0: nothing to do, done before), or MISSING."""
    lines = [Line(v, 0) for v in variant_ids]
    return int(await RELEASE_LINES.bind(redis)(
        keys=_line_keys(keys, host_id, lines), args=[order_id, "s" if sold else "r"]))


async def sell(redis: aioredis.Redis, keys: Keys, host_id: int, order_id: int, user_id: int,
               lines: list[Line]) -> tuple[int, int]:
    """(code, line): 1 sold, 2 sold with lines taken again after an expiry, 0 already sold,
    NOT_ENOUGH with the 0-based line that has no unit left, MISSING."""
    raw = await SELL_LINES.bind(redis)(
        keys=_line_keys(keys, host_id, lines),
        args=[order_id, user_id, *(line.quantity for line in lines)])
    if isinstance(raw, list):
        return int(raw[0]), int(raw[1]) - 1
    return int(raw), -1


async def take_units(redis: aioredis.Redis, vk: VariantKeys, units: int) -> tuple[int, int]:
    """Take units out of the variant's pool for good: (HELD, available after) or
    (NOT_ENOUGH, available) or (MISSING, 0)."""
    raw = await TAKE_UNITS.bind(redis)(keys=[vk.stock], args=[units])
    if isinstance(raw, list):
        return int(raw[0]), int(raw[1])
    if int(raw) == MISSING:
        return MISSING, 0
    return HELD, int(raw)


async def return_units(redis: aioredis.Redis, vk: VariantKeys, units: int) -> int:
    """Units back into the variant's pool: the units available after it, or MISSING."""
    return int(await RETURN_UNITS.bind(redis)(keys=[vk.stock], args=[units]))


async def rebuild(redis: aioredis.Redis, vk: VariantKeys, counts: Counts,
                  holds: dict[int, str]) -> None:
    args: list[object] = [counts.initial, counts.available, counts.held, counts.sold, len(holds)]
    for order_id, value in holds.items():
        args.extend((order_id, value))
    await REBUILD_VARIANT.bind(redis)(keys=[vk.stock, vk.holds], args=args)


async def read_counts(redis: aioredis.Redis, vk: VariantKeys) -> Counts | None:
    raw = await redis.hmget(vk.stock, ["initial", "available", "held", "sold"])
    if any(v is None for v in raw):
        return None
    return Counts(*(int(v) for v in raw if v is not None))
