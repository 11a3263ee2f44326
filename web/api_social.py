"""JSON API for follows, "remind me", notifications, reviews and the seller score. Thin:
parse, call one action of `social`, reply (domain errors become 4xx JSON naming the reason)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Actor, User
from core.context import Services
from social import follows, notifications, reviews
from social.errors import NotAHost
from social.schemas import ReplyIn, ReviewIn, ReviewPatch
from social.score import cached_seller_score
from web.api import ApiRouter
from web.auth import require_user, resolve_principal
from web.edge import services
from web.responses import JSON
from web.validation import parse_body, path_int, query_id

router = ApiRouter("social")

# A follow's move of social.follows: (services, actor, host id) -> the follow as it is now.
FollowMove = Callable[[Services, Actor, int], Awaitable[follows.FollowState]]


@router.add("/api/hosts/{host_id:int}", "GET", summary="A host's public profile: followers, "
            "whether you follow them, the seller score and its counts", auth=False,
            errors=(404,))
async def host_profile(request: Request) -> Response:
    host_id = path_int(request, "host_id")
    principal = await resolve_principal(request)
    async with services(request).db.session() as session:
        row = (await session.execute(select(User.display_name, User.role)
                                     .where(User.id == host_id))).one_or_none()
        if row is None or row.role != "host":
            raise NotAHost(f"no host has id {host_id}", field="host_id")
        state = await follows.follow_state(session, host_id, principal.id if principal else None)
        score = await cached_seller_score(services(request), session, host_id)
    return JSON({"id": host_id, "display_name": row.display_name, **state.public(),
                 "score": score.public()})


async def _follow_move(request: Request, move: FollowMove) -> Response:
    """Follow or unfollow the path's host, as the signed-in user; answered the follow's state."""
    principal = await require_user(request)
    state = await move(services(request), principal, path_int(request, "host_id"))
    return JSON(state.public())


@router.add("/api/hosts/{host_id:int}/follow", "POST", summary="Follow a host",
            errors=(401, 404, 422))
async def follow_host(request: Request) -> Response:
    return await _follow_move(request, follows.follow)


@router.add("/api/hosts/{host_id:int}/follow", "DELETE", summary="Stop following a host",
            errors=(401, 404, 422))
async def unfollow_host(request: Request) -> Response:
    return await _follow_move(request, follows.unfollow)


@router.add("/api/hosts/{host_id:int}/reviews", "GET", summary="A host's reviews, newest "
            "first", auth=False, errors=(404,))
async def host_reviews(request: Request) -> Response:
    host_id = path_int(request, "host_id")
    svc = services(request)
    async with svc.db.session() as session:  # connects only when the score is not cached
        score = await cached_seller_score(svc, session, host_id)
    return JSON({"reviews": await reviews.list_reviews(svc, host_id=host_id),
                 "score": score.public()})


@router.add("/api/products/{product_id:int}/reviews", "GET", summary="A product's reviews, "
            "newest first", auth=False, errors=(404,))
async def product_reviews(request: Request) -> Response:
    product_id = path_int(request, "product_id")
    return JSON({"reviews": await reviews.list_reviews(services(request), product_id=product_id)})


@router.add("/api/rooms/{room_id:int}/remind", "POST", summary="Remind me when this scheduled "
            "room goes live", errors=(401, 404, 409))
async def remind_me(request: Request) -> Response:
    principal = await require_user(request)
    return JSON(await follows.remind(services(request), principal, path_int(request, "room_id")))


@router.add("/api/rooms/{room_id:int}/remind", "DELETE", summary="No reminder for this room",
            errors=(401,))
async def no_reminder(request: Request) -> Response:
    principal = await require_user(request)
    return JSON(await follows.cancel_reminder(services(request), principal,
                                              path_int(request, "room_id")))


@router.add("/api/notifications", "GET", summary="Your notifications, newest first, and the "
            "unread count", errors=(401,), query={"before_id": "integer"})
async def list_notifications(request: Request) -> Response:
    principal = await require_user(request)
    return JSON(await notifications.list_notifications(
        services(request), principal.id, before_id=query_id(request, "before_id")))


@router.add("/api/notifications/unread", "GET", summary="How many of your notifications are "
            "unread (the header's badge)", errors=(401,))
async def unread_notifications(request: Request) -> Response:
    principal = await require_user(request)
    async with services(request).db.session() as session:
        return JSON({"unread": await notifications.unread_count(session, principal.id)})


@router.add("/api/hosts/{host_id:int}/reviewable", "GET", summary="Your completed orders from "
            "this seller that wait for a review", errors=(401,))
async def reviewable(request: Request) -> Response:
    principal = await require_user(request)
    async with services(request).db.session() as session:
        orders = await reviews.reviewable_orders(session, principal.id,
                                                 path_int(request, "host_id"))
    return JSON({"orders": orders})


@router.add("/api/notifications/{notification_id:int}/read", "POST",
            summary="Mark one notification read", errors=(401, 404))
async def read_notification(request: Request) -> Response:
    principal = await require_user(request)
    unread = await notifications.mark_read(services(request), principal.id,
                                           path_int(request, "notification_id"))
    return JSON({"unread": unread})


@router.add("/api/notifications/read", "POST", summary="Mark every notification read",
            errors=(401,))
async def read_all_notifications(request: Request) -> Response:
    principal = await require_user(request)
    return JSON({"unread": await notifications.mark_read(services(request), principal.id, None)})


@router.add("/api/orders/{order_id:int}/review", "POST", summary="Review a completed order of "
            "yours (once)", body=ReviewIn, status=201, errors=(401, 403, 404, 409, 422))
async def review_order(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, ReviewIn)
    review = await reviews.create_review(services(request), principal,
                                         path_int(request, "order_id"), data.rating, data.body)
    return JSON(review, status_code=201)


@router.add("/api/reviews/{review_id:int}", "PATCH", summary="Change your review while its "
            "edit window lasts", body=ReviewPatch, errors=(401, 404, 409, 422))
async def edit_review(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, ReviewPatch)
    review = await reviews.edit_review(services(request), principal,
                                       path_int(request, "review_id"), data.rating, data.body)
    return JSON(review)


@router.add("/api/reviews/{review_id:int}/reply", "POST", summary="The seller's one reply to "
            "a review", body=ReplyIn, errors=(401, 403, 404, 409, 422))
async def reply_review(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, ReplyIn)
    review = await reviews.reply_to_review(services(request), principal,
                                           path_int(request, "review_id"), data.reply)
    return JSON(review)
