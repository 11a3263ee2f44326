"""The seller score: ratings, refunds and cancellations in one number, with what it rests on.
The formula and its reasons are in docs/metrics.md ("Seller score"); this is that formula."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from orders.models import Order, OrderStatus, Sale
from social.models import Review

# A new seller starts from this rating, weighted as this many reviews: five 5-star reviews
# lift them to 4.5, one 1-star review alone takes them to 3.5, not to 1.
PRIOR_RATING = 4.0
PRIOR_REVIEWS = 5
# Refund and cancellation rates are shrunk the same way, as if over this many more orders
# with none: one refund among a seller's first two orders is not a 50 % refund rate.
PRIOR_ORDERS = 10
# Points off the 5-point scale at a 100 % rate: refunds weigh most (money back after paying:
# the seller failed), cancellations a little (mostly buyers changing their minds).
REFUND_WEIGHT = 2.5
CANCEL_WEIGHT = 1.0
# The pages (a room's, every load) read the score from Redis for this long: a viral room's
# page loads then cost no aggregate over the host's orders each. A review drops it at once;
# a refund or a cancellation shows within this long.
SCORE_CACHE_SECONDS = 30


@dataclass(frozen=True)
class SellerScore:
    host_id: int
    score: float | None
    reviews: int
    rating_average: float | None
    paid_orders: int
    refunded: int
    orders: int
    cancelled: int

    def public(self) -> dict[str, Any]:
        return {"host_id": self.host_id, "score": self.score, "reviews": self.reviews,
                "rating_average": self.rating_average, "paid_orders": self.paid_orders,
                "refunded": self.refunded, "orders": self.orders, "cancelled": self.cancelled}


def compute_score(*, rating_sum: int, reviews: int, paid_orders: int, refunded: int,
                  orders: int, cancelled: int) -> float | None:
    """docs/metrics.md's formula; None until the seller has a review (no number from priors
    alone)."""
    if reviews == 0:
        return None
    rating = (PRIOR_RATING * PRIOR_REVIEWS + rating_sum) / (PRIOR_REVIEWS + reviews)
    refund_rate = refunded / (paid_orders + PRIOR_ORDERS)
    cancel_rate = cancelled / (orders + PRIOR_ORDERS)
    raw = rating - REFUND_WEIGHT * refund_rate - CANCEL_WEIGHT * cancel_rate
    return round(min(5.0, max(1.0, raw)), 1)


async def seller_score(session: AsyncSession, host_id: int) -> SellerScore:
    rating_sum, reviews = (await session.execute(
        select(func.coalesce(func.sum(Review.rating), 0), func.count())
        .where(Review.host_id == host_id))).one()
    ever_paid = Order.paid_at.is_not(None)
    counts = (await session.execute(
        select(func.count(),
               func.count(case((ever_paid, 1))),
               func.count(case((Order.status == OrderStatus.REFUNDED.value, 1))),
               func.count(case((Order.status == OrderStatus.CANCELLED.value, 1))))
        .select_from(Order).join(Sale, Sale.id == Order.sale_id)
        .where(Sale.host_id == host_id))).one()
    orders, paid_orders, refunded, cancelled = (int(value) for value in counts)
    reviews = int(reviews)
    return SellerScore(
        host_id=host_id,
        score=compute_score(rating_sum=int(rating_sum), reviews=reviews, paid_orders=paid_orders,
                            refunded=refunded, orders=orders, cancelled=cancelled),
        reviews=reviews,
        rating_average=round(int(rating_sum) / reviews, 2) if reviews else None,
        paid_orders=paid_orders, refunded=refunded, orders=orders, cancelled=cancelled)


def _cache_key(svc: Services, host_id: int) -> str:
    return svc.keys.user(host_id, "seller_score")


async def cached_seller_score(svc: Services, session: AsyncSession, host_id: int) -> SellerScore:
    """`seller_score`, kept in Redis for SCORE_CACHE_SECONDS (the pages' read)."""
    key = _cache_key(svc, host_id)
    raw = await svc.redis.get(key)
    if raw:
        return SellerScore(**orjson.loads(raw))
    score = await seller_score(session, host_id)
    await svc.redis.set(key, orjson.dumps(asdict(score)), ex=SCORE_CACHE_SECONDS)
    return score


async def forget_seller_score(svc: Services, host_id: int) -> None:
    """After a review's commit: the next page shows the new score."""
    await svc.redis.delete(_cache_key(svc, host_id))
