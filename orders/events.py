"""The domain events the orders package records; handlers run after the commit.

Each is named in the past tense and carries ids and facts, never ORM objects (a handler
runs after the session that loaded them is gone)."""

from __future__ import annotations

from dataclasses import dataclass

from core.events import DomainEvent


@dataclass(frozen=True, slots=True)
class SaleSettled(DomainEvent):
    """An ended sale's unsold units went back to its product's stock (once per sale)."""

    sale_id: int
    room_id: int
    product_id: int
    units_returned: int
