"""Reviews of completed orders: the buyer rates (1-5) and writes once, may change it within
`REVIEW_EDIT_WINDOW_SECONDS`, and the seller may reply once.

"Completed" is the orders state machine's `completed`: the seller marked a paid order
fulfilled (`orders.order_moves.complete_order`, paid -> completed). A review needs an order
of the buyer's own in that state, so every review comes from a real purchase; the unique
order id makes it one per order even when two requests race.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, User
from core.context import Services
from core.errors import ValidationError
from live.models import Product
from orders.models import Order, OrderStatus, Sale
from social.errors import (
    AlreadyReplied,
    AlreadyReviewed,
    NotReviewedHost,
    NotYourOrder,
    OrderNotCompleted,
    OrderNotFound,
    RatingOutOfRange,
    ReviewLocked,
    ReviewNotFound,
)
from social.models import Review
from social.score import forget_seller_score

RATING_MIN = 1
RATING_MAX = 5
# What a review's words may hold: a paragraph or two.
BODY_MAX_LENGTH = 2000
REPLY_MAX_LENGTH = 1000


def check_rating(rating: object) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not (
            RATING_MIN <= rating <= RATING_MAX):
        raise RatingOutOfRange(f"rating must be a whole number from {RATING_MIN} to "
                               f"{RATING_MAX}", field="rating", extra={"got": rating})
    return rating


def check_text(text: str, field: str, limit: int) -> str:
    text = text.strip()
    if len(text) > limit:
        raise ValidationError([{"field": field,
                                "message": f"{field} may be at most {limit} characters"}])
    return text


async def review_view(session: AsyncSession, review: Review) -> dict[str, Any]:
    buyer = await session.scalar(select(User.display_name).where(User.id == review.buyer_id))
    product = await session.scalar(select(Product.title).where(Product.id == review.product_id))
    return _view(review, buyer or "", product or "")


def _view(review: Review, buyer_name: str, product_title: str) -> dict[str, Any]:
    return {
        "id": review.id, "order_id": review.order_id, "product_id": review.product_id,
        "product_title": product_title, "host_id": review.host_id,
        # Only the first letter and the last: a review is public, the buyer's name is not.
        "buyer": _masked(buyer_name), "rating": review.rating, "body": review.body,
        "created_at": review.created_at.isoformat(), "updated_at": review.updated_at.isoformat(),
        "editable_until": review.editable_until.isoformat(),
        "reply": review.reply,
        "replied_at": review.replied_at.isoformat() if review.replied_at else None,
    }


def _masked(name: str) -> str:
    if len(name) <= 1:
        return (name or "?") + "***"
    return f"{name[0]}***{name[-1]}"


async def create_review(svc: Services, actor: Actor, order_id: int, rating: int,
                        body: str) -> dict[str, Any]:
    rating = check_rating(rating)
    body = check_text(body, "body", BODY_MAX_LENGTH)
    window = timedelta(seconds=svc.settings.social.review_edit_window_seconds)
    try:
        async with svc.db.transaction() as session:
            row = (await session.execute(
                select(Order.id, Order.user_id, Order.status, Order.product_id, Sale.host_id)
                .join(Sale, Sale.id == Order.sale_id).where(Order.id == order_id)
            )).one_or_none()
            if row is None:
                raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
            if row.user_id != actor.id:
                raise NotYourOrder("only the buyer of an order can review it", field="order_id")
            if row.status != OrderStatus.COMPLETED:
                raise OrderNotCompleted(
                    f"the order is {row.status}: only a completed order can be reviewed",
                    field="order_id", extra={"status": row.status})
            if await session.scalar(select(Review.id).where(Review.order_id == order_id)):
                raise AlreadyReviewed("this order has a review already; change it instead",
                                      field="order_id")
            review = Review(order_id=order_id, buyer_id=actor.id, host_id=row.host_id,
                            product_id=row.product_id, rating=rating, body=body,
                            editable_until=func.now() + window)
            session.add(review)
            await session.flush()
            await session.refresh(review)
            view = await review_view(session, review)
    except IntegrityError:
        # The same order reviewed by two requests at once: the unique order id kept one.
        raise AlreadyReviewed("this order has a review already; change it instead",
                              field="order_id") from None
    await forget_seller_score(svc, view["host_id"])
    return view


async def edit_review(svc: Services, actor: Actor, review_id: int, rating: int | None,
                      body: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if rating is not None:
        values["rating"] = check_rating(rating)
    if body is not None:
        values["body"] = check_text(body, "body", BODY_MAX_LENGTH)
    async with svc.db.transaction() as session:
        review = await session.get(Review, review_id)
        if review is None or review.buyer_id != actor.id:
            raise ReviewNotFound(f"no review {review_id} of yours", field="review_id")
        # One conditional UPDATE: the window is decided by the database's clock.
        changed = await session.scalar(
            update(Review).where(Review.id == review_id, Review.editable_until > func.now())
            .values(**values, updated_at=func.now()).returning(Review.id))
        if changed is None:
            raise ReviewLocked("the review can no longer be changed", field="review_id")
        await session.refresh(review)
        view = await review_view(session, review)
    await forget_seller_score(svc, view["host_id"])
    return view


async def reply_to_review(svc: Services, actor: Actor, review_id: int, text: str) -> dict[str, Any]:
    text = check_text(text, "reply", REPLY_MAX_LENGTH)
    if not text:
        raise ValidationError([{"field": "reply", "message": "reply must not be empty"}])
    async with svc.db.transaction() as session:
        review = await session.get(Review, review_id)
        if review is None:
            raise ReviewNotFound(f"review {review_id} does not exist", field="review_id")
        if review.host_id != actor.id:
            raise NotReviewedHost("only the seller of the order can reply", field="review_id")
        replied = await session.scalar(
            update(Review).where(Review.id == review_id, Review.reply.is_(None))
            .values(reply=text, replied_at=func.now()).returning(Review.id))
        if replied is None:
            raise AlreadyReplied("the seller has replied to this review already",
                                 field="review_id")
        await session.refresh(review)
        return await review_view(session, review)


async def list_reviews(svc: Services, *, host_id: int | None = None,
                       product_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    async with svc.db.session() as session:
        query = (select(Review, User.display_name, Product.title)
                 .join(User, User.id == Review.buyer_id)
                 .join(Product, Product.id == Review.product_id)
                 .order_by(Review.id.desc()).limit(limit))
        if host_id is not None:
            query = query.where(Review.host_id == host_id)
        if product_id is not None:
            query = query.where(Review.product_id == product_id)
        rows = (await session.execute(query)).all()
    return [_view(review, name, title) for review, name, title in rows]


async def review_of_order(session: AsyncSession, order_id: int) -> Review | None:
    return await session.scalar(select(Review).where(Review.order_id == order_id))


async def reviewable_orders(session: AsyncSession, buyer_id: int,
                            host_id: int | None = None) -> list[dict[str, Any]]:
    """The buyer's completed orders (of one seller, when given) that have no review yet."""
    query = (select(Order.id, Order.quantity, Order.amount_minor, Order.currency,
                    Order.product_id, Product.title)
             .join(Sale, Sale.id == Order.sale_id)
             .join(Product, Product.id == Order.product_id)
             .where(Order.user_id == buyer_id, Order.status == OrderStatus.COMPLETED.value)
             .where(~select(Review.id).where(Review.order_id == Order.id).exists())
             .order_by(Order.id.desc()).limit(20))
    if host_id is not None:
        query = query.where(Sale.host_id == host_id)
    rows = (await session.execute(query)).all()
    return [{"order_id": row.id, "quantity": row.quantity, "amount_minor": row.amount_minor,
             "currency": row.currency, "product_id": row.product_id, "product_title": row.title}
            for row in rows]
