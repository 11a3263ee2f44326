"""What the room (and each entrant) hears of rains and draws: published after the commit by
the handlers in workers/handlers.py. The room's `rain` and `draw` events carry the whole
public view and the server's clock (countdowns run on it), so a page needs nothing else."""

from __future__ import annotations

import time
from typing import Any

from core.context import Services
from engagement import draws, rains
from engagement.events import DrawDrawn, DrawEntered, DrawStarted, RainDropped, RainSettled
from realtime.publish import ServerEvent, UserEvent, publish_room, publish_user, publish_users

# Each entrant's result goes out in pipelines of this many: a draw of 100,000 followers is a
# hundred round trips, not 100,000, and no one pipeline holds Redis for long.
RESULTS_PER_PIPELINE = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _publish_rain(svc: Services, rain_id: int, action: str) -> None:
    rain = await rains.get_rain(svc, rain_id)
    data: dict[str, Any] = {"action": action, "rain": await rains.rain_view(svc, rain),
                            "server_time_ms": _now_ms()}
    await publish_room(svc.redis, svc.keys, rain.room_id, ServerEvent.RAIN, data)


async def announce_dropped_rain(svc: Services, event: RainDropped) -> None:
    await _publish_rain(svc, event.rain_id, "dropped")


async def announce_settled_rain(svc: Services, event: RainSettled) -> None:
    await _publish_rain(svc, event.rain_id, "settled")


async def _publish_draw(svc: Services, draw_id: int, action: str) -> dict[str, Any]:
    draw = await draws.get_draw(svc, draw_id)
    view = await draws.draw_view(svc, draw)
    await publish_room(svc.redis, svc.keys, draw.room_id, ServerEvent.DRAW,
                       {"action": action, "draw": view, "server_time_ms": _now_ms()})
    return view


async def announce_started_draw(svc: Services, event: DrawStarted) -> None:
    await _publish_draw(svc, event.draw_id, "started")


async def tell_entrant(svc: Services, event: DrawEntered) -> None:
    await publish_user(svc.redis, svc.keys, event.user_id, ServerEvent.DRAW,
                       {"action": "entered", "draw_id": event.draw_id})


async def announce_drawn_draw(svc: Services, event: DrawDrawn) -> None:
    """The room sees the winners; every viewer who entered hears whether they won (or that
    they had left the room before an in-room draw closed), a pipeline per batch."""
    view = await _publish_draw(svc, event.draw_id, "drawn")
    winners = set(view["winners"] or [])
    counted = set(view["entrants"] or [])
    entered = await draws.entered_users(svc, event.draw_id)
    for start in range(0, len(entered), RESULTS_PER_PIPELINE):
        await publish_users(svc.redis, svc.keys, [
            UserEvent(user_id, ServerEvent.DRAW, {
                "action": "result", "draw_id": event.draw_id,
                "result": "won" if user_id in winners else (
                    "lost" if user_id in counted else "left")})
            for user_id in entered[start:start + RESULTS_PER_PIPELINE]])
