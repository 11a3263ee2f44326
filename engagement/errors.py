"""Errors of the engagement package. Each has its own code, so a client can tell them apart."""

from __future__ import annotations

from core.errors import Conflict, NotFound, PermissionDenied, Unavailable, Unprocessable


class RoomNotFound(NotFound):
    code = "room_not_found"


class RainNotFound(NotFound):
    code = "rain_not_found"


class DrawNotFound(NotFound):
    code = "draw_not_found"


class NotRoomHost(PermissionDenied):
    code = "not_room_host"


class HostCannotGrab(PermissionDenied):
    code = "host_cannot_grab"


class NotInRoom(PermissionDenied):
    """A grab by a viewer with no websocket of the rain's room open (engagement/presence.py)."""

    code = "not_in_room"


class HostCannotEnter(PermissionDenied):
    code = "host_cannot_enter"


class RoomNotLive(Conflict):
    code = "room_not_live"


class CannotSplit(Unprocessable):
    """The pool cannot give every envelope the minimum."""

    code = "cannot_split"


class RainInProgress(Conflict):
    code = "rain_in_progress"


class RainNotOpen(Conflict):
    code = "rain_not_open"


class RainEnded(Conflict):
    code = "rain_ended"


class RainEmpty(Conflict):
    code = "rain_empty"


class AlreadyGrabbed(Conflict):
    code = "already_grabbed"


class GrabConflict(Unavailable):
    """The envelope Redis handed out was committed to someone else (Redis was rebuilt while
    the grab was in flight): nothing was credited, and a retry pops another one."""

    code = "grab_retry"


class DrawInProgress(Conflict):
    code = "draw_in_progress"


class DrawClosed(Conflict):
    code = "draw_closed"


class EnterByKeyword(Conflict):
    code = "enter_by_keyword"


class EnterByFollowing(Conflict):
    code = "enter_by_following"
