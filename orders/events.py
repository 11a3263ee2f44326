"""The domain events the orders package records; handlers run after the commit.

Each is named in the past tense and carries ids and facts, never ORM objects (a handler
runs after the session that loaded them is gone). Handlers are registered in
`workers/handlers.py`; the table in docs/architecture.md lists who handles what.

The buy path records none: its effect (the room's stock tick) is already coalesced by
`orders.runtime.StockPublisher`, and an event per buy would add cost where it matters most.
"""

from __future__ import annotations

from enum import StrEnum

from core.events import DomainEvent, domain_event


class SaleAction(StrEnum):
    """What the room's `sale` event says happened (its `action` field)."""

    STARTED = "started"
    SCHEDULED = "scheduled"
    STOPPED = "stopped"
    ENDED = "ended"


@domain_event
class SaleChanged(DomainEvent):
    """Something happened to a sale of a room. Never recorded itself: its subclasses are."""

    sale_id: int
    room_id: int


@domain_event
class SaleCreated(SaleChanged):
    """A host started (or scheduled) a sale; its units left the product's stock."""

    product_id: int
    quantity: int
    action: SaleAction


@domain_event
class SaleStarted(SaleChanged):
    """A scheduled sale's start time came."""


@domain_event
class SaleEnded(SaleChanged):
    """A sale's time was up."""


@domain_event
class SaleStopped(SaleChanged):
    """A sale ended before its time: its host stopped it, or its room ended."""

    stopped_by: int | None


@domain_event
class UnitsReleased(DomainEvent):
    """Units of a product that a sale no longer needs: an ended sale's unsold units, or an
    order's refunded after its sale settled. Handled *inside* the recording transaction
    (`EventBus.run_in_transaction`): they go back to the pool they were taken from (the
    variant, the product's default variant when None), exactly once."""

    product_id: int
    units: int
    sale_id: int
    order_id: int | None = None
    variant_id: int | None = None


@domain_event
class SaleSettled(SaleChanged):
    """An ended sale's unsold units went back to its product's stock (once per sale)."""

    product_id: int
    units_returned: int


@domain_event
class SaleStockChanged(SaleChanged):
    """A sale's counters moved outside the buy path (a cancel, an expiry, a payment, a
    refund): the room hears the new counts."""


@domain_event
class VariantStockChanged(DomainEvent):
    """Units of these products' variants were held, given back or taken (a regular-price buy
    or cart, a cancel, an expiry, a refund): the room hears the units left, coalesced
    (`orders.runtime.VariantStockPublisher`)."""

    room_id: int
    product_ids: tuple[int, ...]


@domain_event
class OrderChanged(DomainEvent):
    """Something happened to an order; its buyer hears of it."""

    order_id: int
    sale_id: int | None  # None: a regular-price order
    user_id: int


@domain_event
class OrderPaid(OrderChanged):
    pass


@domain_event
class OrderCancelled(OrderChanged):
    pass


@domain_event
class OrderExpired(OrderChanged):
    pass


@domain_event
class OrderCompleted(OrderChanged):
    pass


@domain_event
class OrderRefunded(OrderChanged):
    pass


@domain_event
class RefundQueued(DomainEvent):
    """A refund was written to the outbox; a worker asks the provider for it (once, by its
    refund key, retried until the provider answers)."""

    outbox_id: int
    order_id: int


@domain_event
class CouponDropped(DomainEvent):
    """A host dropped a coupon into a live room: the room hears it (its `coupon` event)."""

    coupon_id: int
    room_id: int


@domain_event
class CouponClaimed(DomainEvent):
    """A viewer claimed a copy: the room hears how many are left (the `coupon` event)."""

    coupon_id: int
    room_id: int
    left: int


@domain_event
class BargainHelped(DomainEvent):
    """A friend cut a bargain's price: its buyer hears who, by how much, and the price now (a
    `bargain` user event; orders/bargains.py)."""

    bargain_id: int
    buyer_id: int
    helper_id: int
    seq: int
    cut_minor: int
    price_minor: int
    currency: str
    helpers_needed: int


@domain_event
class BargainOfferChanged(DomainEvent):
    """A host offered a bargain in a room, or withdrew one: the room hears it (a
    `bargain_offer` room event; orders/bargains.py). Never recorded itself: its subclasses
    are."""

    offer_id: int
    room_id: int


@domain_event
class BargainOffered(BargainOfferChanged):
    """A host offered a lineup product for bargaining."""


@domain_event
class BargainOfferWithdrawn(BargainOfferChanged):
    """A host withdrew an offer: no new bargain starts on it."""
