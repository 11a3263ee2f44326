"""Errors of the live package."""

from __future__ import annotations

from core.errors import Conflict, NotFound, PermissionDenied


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


class NotEnoughStock(Conflict):
    code = "not_enough_stock"
