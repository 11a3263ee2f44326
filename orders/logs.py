"""The append-only logs of sales and orders, and the one way an order's status moves.

A status move is a conditional `UPDATE … WHERE status = :from` checked by `transition()`, and is
written to the order event log in the same transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.states import transition
from orders.models import (
    ORDER_MOVES,
    Order,
    OrderEvent,
    OrderEventType,
    OrderStatus,
    SaleEvent,
    SaleEventType,
)

log = logging.getLogger(__name__)


def record_sale_event(session: AsyncSession, sale_id: int, event_type: SaleEventType,
                      actor_id: int | None,
                      data: dict[str, Any] | None = None) -> None:
    session.add(SaleEvent(sale_id=sale_id, type=event_type, actor_id=actor_id, data=data or {}))


def record_order_event(session: AsyncSession, order_id: int, event_type: OrderEventType,
                       from_status: OrderStatus | None, to_status: OrderStatus,
                       actor_id: int | None, data: dict[str, Any] | None = None) -> None:
    session.add(OrderEvent(order_id=order_id, type=event_type,
                           from_status=from_status.value if from_status else None,
                           to_status=to_status.value, actor_id=actor_id, data=data or {}))


async def move_order(session: AsyncSession, order_id: int, current: OrderStatus,
                     target: OrderStatus, *, event_type: OrderEventType, actor_id: int | None,
                     data: dict[str, Any] | None = None, **values: Any) -> bool:
    """One order status move: checked by transition(), applied as a conditional UPDATE,
    logged. Returns False (and changes nothing) when a concurrent move got there first."""
    transition(ORDER_MOVES, current, target, what="an order")
    result = await session.execute(
        update(Order).where(Order.id == order_id, Order.status == current.value)
        .values(status=target.value, updated_at=func.now(), **values).returning(Order.id))
    if result.scalar_one_or_none() is None:
        return False
    record_order_event(session, order_id, event_type, current, target, actor_id, data)
    return True

