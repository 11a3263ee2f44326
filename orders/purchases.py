"""Social proof in the room: "L*** just bought", and how many people bought.

Announced after an order is paid (the `OrderPaid` handler), never on the buy path. A busy
room would otherwise get one line per payment: one line goes out per room every
`PURCHASE_LINE_INTERVAL_MS` at most, and the payments in between ride along as "and N
others" on the next line. The gate and the count of those held back live in Redis, so the
web processes and workers that settle payments share them.
"""

from __future__ import annotations

from typing import Any

from core.accounts import User
from core.context import Services
from orders import queries
from realtime.publish import ServerEvent, publish_room

# A viewer reads a line in about a second and a half; faster lines scroll past unread.
PURCHASE_LINE_INTERVAL_MS = 1500
# The held-back count outlives a quiet spell of a minute at most: an older "and 3 others"
# would be news of the past.
HELD_BACK_TTL_MS = 60_000


def short_name(display_name: str) -> str:
    """The buyer's name as the room shows it: the first character and a mask ("L***"), so a
    buyer is not named to everyone watching."""
    name = display_name.strip()
    return f"{name[:1]}***" if name else "Someone"


async def announce_purchase(svc: Services, order_id: int) -> dict[str, Any] | None:
    """Tell the order's room that someone bought (or fold it into the next line); returns the
    event's data when a line was published."""
    async with svc.db.session() as session:
        order = await queries.get_order(session, order_id)
        buyer = await session.get(User, order.user_id)
        buyers = await queries.room_buyers(session, order.room_id)
    gate = svc.keys.room(order.room_id, "purchase_gate")
    held = svc.keys.room(order.room_id, "purchase_held")
    if not await svc.redis.set(gate, b"1", nx=True, px=PURCHASE_LINE_INTERVAL_MS):
        pipe = svc.redis.pipeline(transaction=False)
        pipe.incr(held)
        pipe.pexpire(held, HELD_BACK_TTL_MS)
        await pipe.execute()
        return None
    others = int(await svc.redis.getdel(held) or 0)
    data = {"name": short_name(buyer.display_name if buyer else ""), "others": others,
            "quantity": order.quantity, "buyers": buyers}
    await publish_room(svc.redis, svc.keys, order.room_id, ServerEvent.PURCHASE, data,
                       state={"buyers": buyers})
    return data
