"""Errors of the live package."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, NotFound, PermissionDenied, ValidationError


class RoomNotFound(NotFound):
    code = "room_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class NotRoomHost(PermissionDenied):
    code = "not_room_host"


class NotInLineup(Conflict):
    code = "not_in_lineup"


class RoomEnded(Conflict):
    code = "room_ended"


class PriceAboveRegular(ValidationError):
    """A flash sale priced above the product's regular price: almost always a typo (an extra
    zero), so it needs the host's explicit confirmation."""

    code = "price_above_regular"

    def __init__(self, sale_price_minor: int, regular_price_minor: int) -> None:
        super().__init__([{"field": "price_minor",
                           "message": "The sale price is above the product's regular price. "
                                      "Lower it, or confirm that it is meant."}])
        self.regular_price_minor = regular_price_minor

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "regular_price_minor": self.regular_price_minor}


class RoomNotLive(Conflict):
    code = "room_not_live"
