"""Coupons dropped into a live room: drop, claim, apply at checkout, give back, and the rebuild
of a coupon's Redis state (docs/engagement.md, "Coupons").

- **Drop** (`drop_coupon`): the host of a live room writes the coupon (amount off, or percent
  off with a cap; a minimum spend; how many; valid until; optionally followers only) and builds
  its Redis keys (copies left, the viewers who claimed); the room hears it after the commit.
- **Claim** (`claim_coupon`): holding the coupon's advisory lock shared, one Lua script takes a
  copy for the viewer (never more claims than copies, never two for one viewer) and the claim
  is committed to PostgreSQL before the reply. A claim whose commit fails gives its copy back
  (`unclaim_coupon.lua`).
- **Rebuild** (`rebuild_coupon`): holding the advisory lock exclusive (which waits for every
  claim in flight), the keys are made again from the committed claims. A claim Redis counted whose
  process died before its commit is forgotten, its copy claimable again.
- **Apply** (`apply_claim`, called by `orders.regular` inside the order's transaction): the
  claim must be the buyer's, unused, of this room's coupon, still valid, and the order must
  reach the minimum spend; the discount (never more than the amount) is taken off the amount
  paid, and the claim names the order.
- **Give back** (`release_claims_of`): a cancelled or expired order's claim is free again, in
  the same transaction as the order's move, so it happens once.
- **Unwritten claims** (`release_unwritten_claims`): the claim script dates each claim in the
  coupon's unwritten zset; a claim whose process died before its commit has its copy given
  back, once, by the sweep (under the same lock as the rebuild).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.accounts import Actor, owns_or_ops
from core.clock import to_epoch_ms
from core.context import Services
from core.db import Base, lock_advisory
from core.errors import ValidationError
from core.events import record, unit_of_work
from core.redis import Keys, LuaScript
from orders.errors import (
    CouponAlreadyClaimed,
    CouponBelowMinimum,
    CouponCurrencyMismatch,
    CouponExhausted,
    CouponExpired,
    CouponFollowersOnly,
    CouponNotForThisRoom,
    CouponNotFound,
    CouponNotYours,
    CouponRoomNotLive,
    CouponUsed,
    HostCannotClaim,
    NotRoomHost,
)
from orders.events import CouponClaimed, CouponDropped
from orders.models import room_hosts_table
from realtime.publish import ServerEvent, publish_room

log = logging.getLogger(__name__)

CLAIM = LuaScript(Path(__file__).parent / "scripts" / "claim_coupon.lua")
UNCLAIM = LuaScript(Path(__file__).parent / "scripts" / "unclaim_coupon.lua")

# Script answers (claim_coupon.lua).
MISSING, ALREADY, EXHAUSTED = -1, -2, -3
# A coupon's keys outlive its validity by a day: a viewer looking at the room's coupons after
# it expired is answered from PostgreSQL anyway (`coupon_expired`), and a rebuild remakes them.
KEYS_GRACE_SECONDS = 24 * 3600
# The claimers set always holds this member, so an empty set still exists once built.
SENTINEL = "-"
# The fence between a claim's script and a rebuild of the coupon's keys: a PostgreSQL advisory
# lock per coupon in this namespace ("CP"), held shared by a claim from before its script to its
# commit, exclusive by the rebuild, so the rebuild sees every claim committed or rolled back.
# An advisory lock lives in the lock manager: thousands of claimers sharing it write nothing to
# the coupon's row (a `FOR SHARE` makes each of them rewrite the row's lockers in turn, which
# serialises a rush of claims).
ADVISORY_NAMESPACE = 0x4350


async def _lock(session: AsyncSession, coupon_id: int, *, shared: bool) -> None:
    await lock_advisory(session, ADVISORY_NAMESPACE, [coupon_id], shared=shared)


class CouponKind:
    AMOUNT = "amount"
    PERCENT = "percent"


class Coupon(Base):
    """A coupon a host dropped into a live room: `quantity` copies, one per viewer."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("kind in ('amount', 'percent')", name="kind"),
        CheckConstraint("(kind = 'amount' and amount_off_minor > 0 and percent_off is null "
                        "and max_off_minor is null) or (kind = 'percent' and amount_off_minor "
                        "is null and percent_off between 1 and 100 and max_off_minor > 0)",
                        name="terms"),
        CheckConstraint("min_spend_minor >= 0", name="min_spend_non_negative"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_coupons_room_id", "room_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount_off_minor: Mapped[int | None] = mapped_column(BigInteger)
    percent_off: Mapped[int | None]
    # The most a percent-off coupon takes off.
    max_off_minor: Mapped[int | None] = mapped_column(BigInteger)
    min_spend_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(BigInteger)
    followers_only: Mapped[bool] = mapped_column(default=False, server_default="false")
    valid_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def discount_for(self, amount_minor: int) -> int:
        """What the coupon takes off an order of `amount_minor`: never more than the amount
        (a price is never negative); a percent is rounded down."""
        if self.kind == CouponKind.AMOUNT:
            off = int(self.amount_off_minor or 0)
        else:
            off = min(amount_minor * int(self.percent_off or 0) // 100, int(self.max_off_minor or 0))
        return max(0, min(off, amount_minor))


class CouponClaim(Base):
    """One viewer's copy of a coupon. `order_id` is the order using it (none: free to use)."""

    __tablename__ = "coupon_claims"
    __table_args__ = (
        Index("ix_coupon_claims_user_id", "user_id"),
        Index("uq_coupon_claims_order_id", "order_id", unique=True,
              postgresql_where="order_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    claimed_at: Mapped[datetime] = mapped_column(server_default=func.now())


@dataclass(frozen=True)
class CouponKeys:
    left: str
    claimers: str
    # Claims made by the script and not yet known to be committed (`release_unwritten_claims`).
    unwritten: str

    @classmethod
    def of(cls, keys: Keys, coupon_id: int) -> CouponKeys:
        # One hash tag per coupon: the scripts touch its keys on one cluster slot.
        base = f"{keys.prefix}coupon:{{{coupon_id}}}:"
        return cls(base + "left", base + "claimers", base + "unwritten")

    @property
    def all(self) -> list[str]:
        return [self.left, self.claimers, self.unwritten]


@dataclass(frozen=True)
class CouponTerms:
    kind: str
    amount_off_minor: int | None
    percent_off: int | None
    max_off_minor: int | None
    min_spend_minor: int
    currency: str
    quantity: int
    valid_seconds: int
    followers_only: bool


# The web edge's "does this viewer follow this host" (social's follows), asked inside the
# claim's transaction: orders imports no other domain package.
FollowsHost = Callable[[AsyncSession, int], Awaitable[bool]]


def check_terms(terms: CouponTerms, *, max_quantity: int, max_valid_seconds: int) -> None:
    problems: list[dict[str, str]] = []
    if terms.kind == CouponKind.AMOUNT:
        if terms.amount_off_minor is None or terms.amount_off_minor <= 0:
            problems.append({"field": "amount_off_minor", "message": "Must be more than 0."})
        if terms.percent_off is not None or terms.max_off_minor is not None:
            problems.append({"field": "percent_off", "message":
                             "An amount-off coupon has no percent and no cap."})
    elif terms.kind == CouponKind.PERCENT:
        if terms.percent_off is None or not 1 <= terms.percent_off <= 100:
            problems.append({"field": "percent_off", "message": "Must be 1 to 100."})
        if terms.max_off_minor is None or terms.max_off_minor <= 0:
            problems.append({"field": "max_off_minor",
                             "message": "A percent-off coupon needs a cap above 0."})
        if terms.amount_off_minor is not None:
            problems.append({"field": "amount_off_minor",
                             "message": "A percent-off coupon has no fixed amount."})
    else:
        problems.append({"field": "kind", "message": "Must be one of: amount, percent."})
    if terms.min_spend_minor < 0:
        problems.append({"field": "min_spend_minor", "message": "Must be 0 or more."})
    if not 1 <= terms.quantity <= max_quantity:
        problems.append({"field": "quantity", "message": f"Must be 1 to {max_quantity}."})
    if not 60 <= terms.valid_seconds <= max_valid_seconds:
        problems.append({"field": "valid_seconds",
                         "message": f"Must be 60 to {max_valid_seconds}."})
    if problems:
        raise ValidationError(problems)


async def drop_coupon(svc: Services, actor: Actor, room_id: int, terms: CouponTerms) -> Coupon:
    """The room's host drops a coupon into the live room."""
    settings = svc.settings.coupons
    check_terms(terms, max_quantity=settings.max_quantity,
                max_valid_seconds=settings.max_valid_seconds)
    async with unit_of_work(svc) as session:
        room = (await session.execute(
            select(room_hosts_table.c.host_id, room_hosts_table.c.status)
            .where(room_hosts_table.c.id == room_id))).first()
        if room is None:
            raise CouponNotFound(f"room {room_id} does not exist", field="room_id",
                                 code="room_not_found")
        if not owns_or_ops(actor, room.host_id):
            raise NotRoomHost("only the room's host can drop a coupon", field="room_id")
        if room.status != "live":
            raise CouponRoomNotLive(f"the room is {room.status}, not live", field="room_id")
        coupon = Coupon(room_id=room_id, host_id=room.host_id, kind=terms.kind,
                        amount_off_minor=terms.amount_off_minor, percent_off=terms.percent_off,
                        max_off_minor=terms.max_off_minor,
                        min_spend_minor=terms.min_spend_minor, currency=terms.currency,
                        quantity=terms.quantity, followers_only=terms.followers_only,
                        valid_until=func.now() + func.make_interval(
                            0, 0, 0, 0, 0, 0, terms.valid_seconds))
        session.add(coupon)
        await session.flush()
        await session.refresh(coupon)
        # Built inside the transaction, before the room hears of it: no viewer can tap Claim
        # on a coupon whose keys are not there yet (a missing key is rebuilt anyway).
        await _write_keys(svc, coupon, left=coupon.quantity, claimers=[])
        record(session, CouponDropped(coupon_id=coupon.id, room_id=room_id))
    return coupon


async def _write_keys(svc: Services, coupon: Coupon, *, left: int, claimers: list[int]) -> None:
    keys = CouponKeys.of(svc.keys, coupon.id)
    ttl = max(60, int(coupon.valid_until.timestamp() - time.time()) + KEYS_GRACE_SECONDS)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.delete(*keys.all)
        pipe.set(keys.left, left, ex=ttl)
        pipe.sadd(keys.claimers, SENTINEL, *claimers)
        pipe.expire(keys.claimers, ttl)
        await pipe.execute()


@dataclass(frozen=True)
class Claimed:
    claim_id: int
    coupon_id: int
    left: int


async def claim_coupon(svc: Services, user_id: int, coupon_id: int,
                       follows_host: FollowsHost) -> Claimed:
    """Claim one copy for the viewer, committed before the reply. Refused, with nothing
    changed: an unknown or expired coupon, no copy left, a second claim, a followers-only
    coupon the viewer may not claim, the host claiming their own."""
    for _attempt in range(3):
        result = await _claim(svc, user_id, coupon_id, follows_host)
        if result is not None:
            return result
        # Fail closed: never guess the count. Rebuild it from PostgreSQL, then try again.
        log.warning("coupon %s keys missing in Redis; rebuilding", coupon_id)
        await rebuild_coupon(svc, coupon_id)
    raise RuntimeError(f"coupon {coupon_id}'s keys went missing three times in a row")


async def _claim(svc: Services, user_id: int, coupon_id: int,
                 follows_host: FollowsHost) -> Claimed | None:
    keys = CouponKeys.of(svc.keys, coupon_id)
    claimed_in_redis = False
    try:
        async with unit_of_work(svc) as session:
            row = (await session.execute(
                select(Coupon, Coupon.valid_until > func.now())
                .where(Coupon.id == coupon_id))).first()
            if row is None:
                raise CouponNotFound(f"coupon {coupon_id} does not exist", field="coupon_id")
            coupon, valid = row
            if not valid:
                raise CouponExpired("the coupon has expired", field="coupon_id")
            if coupon.host_id == user_id:
                raise HostCannotClaim("a host cannot claim their own coupon", field="coupon_id")
            if coupon.followers_only and not await follows_host(session, coupon.host_id):
                raise CouponFollowersOnly("this coupon is for the host's followers: follow "
                                          "the host to claim it", field="coupon_id")
            # Shared: many claims at once; a rebuild takes it exclusive and waits for them.
            await _lock(session, coupon_id, shared=True)
            left = int(await CLAIM.bind(svc.redis)(keys=keys.all,
                                                   args=[user_id, CLAIM_WRITE_DEADLINE_MS]))
            if left == MISSING:
                return None
            if left == ALREADY:
                raise CouponAlreadyClaimed("you have claimed this coupon already",
                                           field="coupon_id")
            if left == EXHAUSTED:
                raise CouponExhausted("every copy of this coupon has been claimed",
                                      field="coupon_id", extra={"left": 0})
            claimed_in_redis = True
            claim = CouponClaim(coupon_id=coupon_id, user_id=user_id)
            session.add(claim)
            await session.flush()
            record(session, CouponClaimed(coupon_id=coupon_id, room_id=coupon.room_id,
                                          left=left))
            claim_id = claim.id
    except IntegrityError:
        # PostgreSQL holds a claim of this viewer already (Redis was rebuilt without it? never:
        # the rebuild reads the claims). Give the script's copy back and say so.
        if claimed_in_redis:
            await UNCLAIM.bind(svc.redis)(keys=keys.all, args=[user_id])
        raise CouponAlreadyClaimed("you have claimed this coupon already",
                                   field="coupon_id") from None
    except BaseException:
        if claimed_in_redis:
            await _unclaim_unless_committed(svc, keys, coupon_id, user_id)
        raise
    # Committed: the sweep has nothing to look at (if this is lost, the sweep finds the claim in
    # PostgreSQL and drops the entry).
    try:
        await svc.redis.zrem(keys.unwritten, user_id)
    except Exception:
        log.warning("could not drop the unwritten entry of coupon %s's claim by %s", coupon_id,
                    user_id, exc_info=True)
    return Claimed(claim_id=claim_id, coupon_id=coupon_id, left=left)


async def _unclaim_unless_committed(svc: Services, keys: CouponKeys, coupon_id: int,
                                    user_id: int) -> None:
    """The claim's commit failed, or its acknowledgement was lost: give the copy back unless
    the claim is in PostgreSQL after all."""
    try:
        async with svc.db.session() as session:
            if await session.scalar(select(CouponClaim.id).where(
                    CouponClaim.coupon_id == coupon_id, CouponClaim.user_id == user_id)):
                return
    except Exception:  # PostgreSQL unreachable: a rebuild (from the committed claims) decides
        log.warning("could not look for the claim of coupon %s by %s", coupon_id, user_id,
                    exc_info=True)
        return
    await UNCLAIM.bind(svc.redis)(keys=keys.all, args=[user_id])


async def rebuild_coupon(svc: Services, coupon_id: int) -> int:
    """Make the coupon's Redis keys again from the committed claims; returns the copies left."""
    async with svc.db.transaction() as session:
        await _lock(session, coupon_id, shared=False)
        coupon = await session.scalar(select(Coupon).where(Coupon.id == coupon_id))
        if coupon is None:
            raise CouponNotFound(f"coupon {coupon_id} does not exist", field="coupon_id")
        claimers = list(await session.scalars(
            select(CouponClaim.user_id).where(CouponClaim.coupon_id == coupon_id)))
        left = coupon.quantity - len(claimers)
        await _write_keys(svc, coupon, left=left, claimers=claimers)
    return left


# Claims whose commit never happened -----------------------------------------------------------

# A claim must be in PostgreSQL this long after its script, or the sweep looks at it. A claim
# commits within milliseconds; 10 s is far past a loaded commit, and the sweep waits for the
# lock of any claim still in flight anyway.
CLAIM_WRITE_DEADLINE_MS = 10_000
# Coupons are swept until this long after they expired (a claim made just before the end).
UNWRITTEN_AFTER_EXPIRY_SECONDS = 600
# Overdue entries one sweep looks at per coupon.
UNWRITTEN_SWEEP_BATCH = 500


async def release_unwritten_claims(svc: Services) -> dict[int, list[int]]:
    """Give back the copies of claims whose process died between the claim script and the
    claim's commit (Redis counted a claim that PostgreSQL never got: one copy short). Run by the
    scheduler with the unwritten-holds sweeps. Returns the viewers whose copy went back, by
    coupon."""
    async with svc.db.session() as session:
        coupon_ids = list(await session.scalars(select(Coupon.id).where(
            Coupon.valid_until > func.now() - func.make_interval(
                0, 0, 0, 0, 0, 0, UNWRITTEN_AFTER_EXPIRY_SECONDS))))
    released: dict[int, list[int]] = {}
    for coupon_id in coupon_ids:
        done = await release_unwritten_of_coupon(svc, coupon_id)
        if done:
            released[coupon_id] = done
    return released


async def release_unwritten_of_coupon(svc: Services, coupon_id: int) -> list[int]:
    """One coupon's part of `release_unwritten_claims`.

    An overdue entry whose claim is in PostgreSQL is dropped (a committed claim is final). For
    the others the coupon's advisory lock is taken exclusive, as the rebuild takes it: that waits
    for every claim in flight (each holds it shared from before its script to its commit), so a
    claim committing at this instant is seen, and one not in PostgreSQL after that never will
    be. Its copy goes back through `unclaim_coupon.lua`, which gives it back only while the
    viewer is still in the claimers set: once, whatever the claim's own failure path or another
    sweep does."""
    keys = CouponKeys.of(svc.keys, coupon_id)
    seconds, micros = await svc.redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    overdue = [int(str(m.decode() if isinstance(m, bytes) else m)) for m in
               await svc.redis.zrangebyscore(keys.unwritten, "-inf", now_ms, start=0,
                                             num=UNWRITTEN_SWEEP_BATCH)]
    if not overdue:
        return []
    # No lock needed here: a committed claim is final.
    missing = set(overdue) - await _committed_claimers(svc, coupon_id, overdue)
    released: list[int] = []
    if missing:
        async with svc.db.transaction() as session:
            await _lock(session, coupon_id, shared=False)
            # Read under the lock: the claims that were in flight have committed or rolled back.
            late = set(await session.scalars(select(CouponClaim.user_id).where(
                CouponClaim.coupon_id == coupon_id, CouponClaim.user_id.in_(missing))))
            for user_id in sorted(missing - late):
                if await UNCLAIM.bind(svc.redis)(keys=keys.all, args=[user_id]) == 1:
                    released.append(user_id)
            # Dropped under the lock: no claim can add an entry meanwhile.
            await svc.redis.zrem(keys.unwritten, *overdue)
    else:
        await svc.redis.zrem(keys.unwritten, *overdue)
    if released:
        log.warning("coupon %s: gave back the copies of %d claims never committed: %s",
                    coupon_id, len(released), released)
    return released


async def _committed_claimers(svc: Services, coupon_id: int, user_ids: list[int]) -> set[int]:
    async with svc.db.session() as session:
        return set(await session.scalars(select(CouponClaim.user_id).where(
            CouponClaim.coupon_id == coupon_id, CouponClaim.user_id.in_(user_ids))))


# Reading ------------------------------------------------------------------------------------


async def copies_left(svc: Services, coupon: Coupon) -> int:
    raw = await svc.redis.get(CouponKeys.of(svc.keys, coupon.id).left)
    if raw is None:
        return await rebuild_coupon(svc, coupon.id)
    return int(raw)


def coupon_view(coupon: Coupon, left: int) -> dict[str, Any]:
    return {"id": coupon.id, "room_id": coupon.room_id, "host_id": coupon.host_id,
            "kind": coupon.kind, "amount_off_minor": coupon.amount_off_minor,
            "percent_off": coupon.percent_off, "max_off_minor": coupon.max_off_minor,
            "min_spend_minor": coupon.min_spend_minor, "currency": coupon.currency,
            "quantity": coupon.quantity, "left": left,
            "followers_only": coupon.followers_only,
            "valid_until_ms": to_epoch_ms(coupon.valid_until)}


async def get_coupon(svc: Services, coupon_id: int) -> Coupon:
    return await svc.db.get(Coupon, coupon_id, missing=CouponNotFound(
        f"coupon {coupon_id} does not exist", field="coupon_id"))


async def room_coupons(svc: Services, room_id: int, user_id: int | None) -> dict[str, Any]:
    """The room's coupons still valid, and the viewer's claims of them (used or not)."""
    async with svc.db.session() as session:
        coupons = list(await session.scalars(
            select(Coupon).where(Coupon.room_id == room_id, Coupon.valid_until > func.now())
            .order_by(Coupon.id)))
        claims: dict[int, CouponClaim] = {}
        if user_id is not None and coupons:
            claims = {c.coupon_id: c for c in await session.scalars(select(CouponClaim).where(
                CouponClaim.user_id == user_id,
                CouponClaim.coupon_id.in_([c.id for c in coupons])))}
    out = []
    for coupon in coupons:
        view = coupon_view(coupon, await copies_left(svc, coupon))
        claim = claims.get(coupon.id)
        view["claim"] = None if claim is None else {
            "id": claim.id, "used": claim.order_id is not None, "order_id": claim.order_id}
        out.append(view)
    return {"room_id": room_id, "coupons": out}


# Checkout ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    claim_id: int
    coupon_id: int
    discount_minor: int


async def apply_claim(session: AsyncSession, *, claim_id: int, user_id: int, room_id: int,
                      amount_minor: int, currency: str,
                      field: str = "coupon_claim_id") -> Applied:
    """Inside the order's transaction, before the order is written: check the claim (the
    buyer's, unused, this room's, valid, the minimum reached) and lock it. The caller writes
    the order and then `mark_used`. Raises with nothing changed."""
    row = (await session.execute(
        select(CouponClaim, Coupon, Coupon.valid_until > func.now())
        .join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(CouponClaim.id == claim_id).with_for_update(of=CouponClaim))).first()
    if row is None or row[0].user_id != user_id:
        raise CouponNotYours("no such coupon among yours", field=field)
    claim, coupon, valid = row
    if claim.order_id is not None:
        raise CouponUsed("this coupon was used on another order", field=field,
                         extra={"order_id": claim.order_id})
    if coupon.room_id != room_id:
        raise CouponNotForThisRoom("this coupon is for another room's products", field=field)
    if not valid:
        raise CouponExpired("the coupon has expired", field=field)
    if coupon.currency != currency:
        raise CouponCurrencyMismatch(f"the coupon is in {coupon.currency}, the order in "
                                     f"{currency}", field=field)
    if amount_minor < coupon.min_spend_minor:
        raise CouponBelowMinimum(
            f"the coupon needs a spend of at least {coupon.min_spend_minor}", field=field,
            extra={"min_spend_minor": coupon.min_spend_minor, "amount_minor": amount_minor})
    return Applied(claim.id, coupon.id, coupon.discount_for(amount_minor))


def not_for_video() -> ValidationError:
    """A coupon is a live room's (dropped and claimed there): a buy from a replay's or short
    video's page that names one is refused, never has it dropped silently."""
    return ValidationError([{"field": "coupon_claim_id", "code": "coupon_not_for_video",
                             "message": "a live-room coupon applies in its room, not to a "
                                        "video's or replay's buy"}])


async def mark_used(session: AsyncSession, applied: Applied, order_id: int) -> None:
    used = await session.scalar(
        update(CouponClaim).where(CouponClaim.id == applied.claim_id,
                                  CouponClaim.order_id.is_(None))
        .values(order_id=order_id).returning(CouponClaim.id))
    if used is None:  # the row is locked since `apply_claim`: cannot happen
        raise CouponUsed("this coupon was used on another order", field="coupon_claim_id")


async def release_claims_of(session: AsyncSession, order_ids: list[int]) -> list[int]:
    """The orders were cancelled or expired (in this transaction): their claims are free
    again. Returns the claims freed; a second call frees nothing."""
    if not order_ids:
        return []
    return list(await session.scalars(
        update(CouponClaim).where(CouponClaim.order_id.in_(order_ids))
        .values(order_id=None).returning(CouponClaim.id)))


async def retake_claim(session: AsyncSession, claim_id: int, order_id: int) -> bool:
    """An expired order is paid after all: its claim names it again, unless another order
    took the claim meanwhile (False: the payment is refunded)."""
    taken = await session.scalar(
        update(CouponClaim).where(CouponClaim.id == claim_id, CouponClaim.order_id.is_(None))
        .values(order_id=order_id).returning(CouponClaim.id))
    return taken is not None


# What the room hears (handlers registered in workers/handlers.py, after the commit) -----------


async def announce_dropped(svc: Services, event: CouponDropped) -> None:
    coupon = await get_coupon(svc, event.coupon_id)
    await publish_room(svc.redis, svc.keys, event.room_id, ServerEvent.COUPON,
                       {"action": "dropped", "coupon": coupon_view(coupon, coupon.quantity)})


async def announce_claimed(svc: Services, event: CouponClaimed) -> None:
    await publish_room(svc.redis, svc.keys, event.room_id, ServerEvent.COUPON,
                       {"action": "claimed", "coupon_id": event.coupon_id, "left": event.left})
