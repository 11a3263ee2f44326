"""Errors of the social package; the web edge maps them to 4xx JSON (`code`, `field`)."""

from __future__ import annotations

from core.errors import Conflict, NotFound, PermissionDenied, Unprocessable


class CannotFollowSelf(Unprocessable):
    code = "cannot_follow_self"


class NotAHost(NotFound):
    code = "host_not_found"


class RoomNotScheduled(Conflict):
    code = "room_not_scheduled"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


class OrderNotFound(NotFound):
    code = "order_not_found"


class NotYourOrder(PermissionDenied):
    code = "not_your_order"


class OrderNotCompleted(Conflict):
    code = "order_not_completed"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"


class ReviewNotFound(NotFound):
    code = "review_not_found"


class ReviewLocked(Conflict):
    code = "review_locked"


class NotReviewedHost(PermissionDenied):
    code = "not_the_seller"


class AlreadyReplied(Conflict):
    code = "already_replied"


class RatingOutOfRange(Unprocessable):
    code = "rating_out_of_range"
