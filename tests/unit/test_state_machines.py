"""Order and sale status machines: every move not in the map is refused, in one place."""

from __future__ import annotations

import pytest

from core.errors import IllegalTransition
from core.states import transition
from orders.models import ORDER_MOVES, SALE_MOVES, OrderStatus, SaleStatus


@pytest.mark.parametrize("current", list(OrderStatus))
@pytest.mark.parametrize("target", list(OrderStatus))
def test_an_order_moves_only_along_the_map(current: OrderStatus, target: OrderStatus) -> None:
    if target in ORDER_MOVES[current]:
        assert transition(ORDER_MOVES, current, target, what="an order") is target
    else:
        with pytest.raises(IllegalTransition) as refused:
            transition(ORDER_MOVES, current, target, what="an order")
        assert refused.value.to_dict()["from"] == current.value
        assert refused.value.status_code == 409


def test_money_never_comes_back_from_a_final_status() -> None:
    for final in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        assert ORDER_MOVES[final] == frozenset()
    # a refund follows a payment, never a hold
    assert OrderStatus.REFUNDED not in ORDER_MOVES[OrderStatus.PENDING_PAYMENT]


@pytest.mark.parametrize("current", list(SaleStatus))
@pytest.mark.parametrize("target", list(SaleStatus))
def test_a_sale_moves_only_forward(current: SaleStatus, target: SaleStatus) -> None:
    order = [SaleStatus.SCHEDULED, SaleStatus.RUNNING, SaleStatus.ENDED]
    allowed = target in SALE_MOVES[current]
    assert allowed == (order.index(target) > order.index(current))
