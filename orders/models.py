"""Tables of the orders package: flash sales, orders and their event log, payments,
provider webhook events, and the outbox of work to hand to Celery after a commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    column,
    func,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import to_epoch_ms
from core.columns import EventLogEntry, enum_column, now_column, references
from core.db import Base


class OrderSource(StrEnum):
    LIVE = "live"
    REPLAY = "replay"
    VIDEO = "video"
    # A bargain's purchase at the price its friends reached (orders/bargains.py).
    BARGAIN = "bargain"


class SaleStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    ENDED = "ended"


SALE_MOVES: dict[SaleStatus, frozenset[SaleStatus]] = {
    SaleStatus.SCHEDULED: frozenset({SaleStatus.RUNNING, SaleStatus.ENDED}),
    SaleStatus.RUNNING: frozenset({SaleStatus.ENDED}),
    SaleStatus.ENDED: frozenset(),
}


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


ORDER_MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_PAYMENT: frozenset(
        {OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED}),
    # A payment that lands after the hold expired is accepted when the sale still has a unit
    # to re-reserve for it (else it is refunded and the order stays expired).
    OrderStatus.EXPIRED: frozenset({OrderStatus.PAID}),
    OrderStatus.PAID: frozenset({OrderStatus.COMPLETED, OrderStatus.REFUNDED}),
    # A return after delivery: the buyer is refunded, and the host's commission is voided (before
    # it settled) or reversed by a negative entry (after). See docs/commissions.md.
    OrderStatus.COMPLETED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}

# Statuses whose units are out of the sale's available count.
HELD_STATUSES = (OrderStatus.PENDING_PAYMENT.value,)
SOLD_STATUSES = (OrderStatus.PAID.value, OrderStatus.COMPLETED.value)


class PaymentStatus(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class Sale(Base):
    """A flash sale of one product in one room. `quantity` units were taken from a variant's
    stock (the product's default variant, or the size or colour named) when the sale was
    created; what is unsold goes back there once the sale is settled."""

    __tablename__ = "sales"
    __table_args__ = (
        CheckConstraint("status in ('scheduled', 'running', 'ended')", name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("per_user_limit > 0", name="limit_positive"),
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
        Index("ix_sales_room_id", "room_id"),
        Index("ix_sales_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")
    product_id: Mapped[int] = references("products.id")
    host_id: Mapped[int] = references("users.id")
    price_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int]
    per_user_limit: Mapped[int]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = enum_column(SaleStatus.SCHEDULED)
    # Bumped by every rebuild of the sale's Redis keys. An order insert carries the epoch its
    # reservation was made in and is refused if a rebuild happened since (see reconcile).
    redis_epoch: Mapped[int] = mapped_column(default=1, server_default="1")
    # Reservations of this epoch that the unwritten-hold sweep gave up on (no order 5 s after
    # the reservation, units released): the order writer refuses them, read through the same
    # row lock as the epoch, so a late commit can never take units that went back. Emptied by
    # the next rebuild, whose new epoch refuses them all anyway. See docs/decisions/0013.
    voided_reservations: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), default=list, server_default="{}")
    # The host's commission rate in basis points, resolved when the sale was created (product
    # rate, else room rate, else the default) and copied onto each of its orders.
    commission_rate_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    # The variant whose pool the sale's units came from, and go back to (docs/decisions/0021).
    variant_id: Mapped[int | None] = references("product_variants.id")
    # Set once, when the unsold units went back to the variant's stock.
    settled_at: Mapped[datetime | None]
    stopped_by: Mapped[int | None] = references("users.id")
    created_at: Mapped[datetime] = now_column()

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room_id": self.room_id,
            "product_id": self.product_id,
            "variant_id": self.variant_id,
            "price_minor": self.price_minor,
            "currency": self.currency,
            "quantity": self.quantity,
            "per_user_limit": self.per_user_limit,
            "starts_at_ms": to_epoch_ms(self.starts_at),
            "ends_at_ms": to_epoch_ms(self.ends_at),
            "status": self.status,
        }


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status in ('pending_payment', 'paid', 'completed', 'expired', 'cancelled', "
            "'refunded')", name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount_minor >= 0", name="amount_non_negative"),
        CheckConstraint("source_kind in ('live', 'replay', 'video', 'bargain')",
                        name="source_kind"),
        CheckConstraint("source_kind = 'live' OR source_id IS NOT NULL", name="source_id_set"),
        # One order per reservation, and one per idempotency key of a buyer in a sale.
        UniqueConstraint("sale_id", "reservation_no", name="uq_orders_sale_reservation"),
        UniqueConstraint("sale_id", "user_id", "idempotency_key", name="uq_orders_sale_user_key"),
        # A regular-price order (no sale) is one per idempotency key of its buyer.
        Index("uq_orders_regular_user_key", "user_id", "idempotency_key", unique=True,
              postgresql_where=text("sale_id IS NULL")),
        Index("ix_orders_host_id", "host_id", postgresql_where=text("host_id IS NOT NULL")),
        # A flash-sale order names its sale (whose row names the host); a regular-price order
        # has no sale and names its host itself.
        CheckConstraint("(sale_id is null) <> (host_id is null)", name="regular_or_sale"),
        Index("ix_orders_user_id", "user_id"),
        # The expiry sweep reads only pending orders, oldest hold first.
        Index("ix_orders_pending_hold", "hold_expires_at",
              postgresql_where=text("status = 'pending_payment'")),
        # The per-video and per-replay reports read the orders of one source.
        Index("ix_orders_video_source", "source_id",
              postgresql_where=text("source_kind <> 'live'")),
        # A group buy's order has no sale and names its host (orders/groups.py); one slot per
        # buyer per group: held while unpaid, theirs once paid.
        CheckConstraint("group_id IS NULL OR sale_id IS NULL", name="group_order_no_sale"),
        Index("uq_orders_group_member", "group_id", "user_id", unique=True,
              postgresql_where=text("group_id IS NOT NULL AND status IN "
                                    "('pending_payment', 'paid', 'completed')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a regular-price order (orders/regular.py), whose items are its `OrderLine`s;
    # `product_id` and `quantity` are then its first line's product and the units of all lines.
    sale_id: Mapped[int | None] = references("sales.id")
    host_id: Mapped[int | None] = references("users.id")
    room_id: Mapped[int] = references("rooms.id")
    product_id: Mapped[int] = references("products.id")
    user_id: Mapped[int] = references("users.id")
    quantity: Mapped[int]
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    reservation_no: Mapped[int]
    hold_expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    # The sale's commission rate at the time of sale (basis points): later rate changes never
    # reach an order already placed.
    commission_rate_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where the buyer pressed buy: the live room (`source_id` is the room, or empty for the
    # order's own room: `source_ref`), a room's replay or a short video (`source_id` is the
    # video). Set by the page that sends the buy and checked
    # on the way in (orders/sources.py); the video reports read it.
    source_kind: Mapped[str] = enum_column(OrderSource.LIVE)
    source_id: Mapped[int | None]
    # The buyer's shipping address when the order was placed (regular-price orders).
    shipping_address: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    # The share-link attribution that stood for the buyer when the order was created (the
    # database has the foreign key to share_attributions; docs/social.md). Resolved and
    # written when the order is paid, in the payment's transaction, so the buy path reads
    # nothing more; empty when no sharer is credited.
    share_attribution_id: Mapped[int | None]
    # The live-room coupon the buyer used (the database has the foreign key to coupon_claims;
    # orders/coupons.py) and what it took off: `amount_minor` is what the buyer pays, after
    # the discount, and what the commission ledger works on.
    coupon_claim_id: Mapped[int | None]
    discount_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    # The group buy this order is a member's unit of (orders/group_models.py; the database has
    # the foreign key to groups): a group order is a regular order without lines.
    group_id: Mapped[int | None]
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()

    @property
    def source_ref(self) -> int:
        """The source's id: the video, or the room for a live order."""
        return self.source_id if self.source_id is not None else self.room_id

    @property
    def is_regular(self) -> bool:
        return self.sale_id is None


class ProductVariant(Base):
    """One sellable version of a product (a SKU): its option values (`{"size": "M",
    "colour": "Blue"}`, `{}` for a product without options), its price if it differs from the
    product's, and `stock`, the units that sell at the regular price. Redis holds the live
    counters (available, held, sold) of each variant, changed only by the scripts of
    `orders/variant_stock.py`; `stock = available + held + sold` is the invariant
    (`orders.variants.check_variant`). A variant is never deleted once created: it is made
    inactive, so its orders keep pointing at it."""

    __tablename__ = "product_variants"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price_minor is null or price_minor >= 0", name="price_non_negative"),
        UniqueConstraint("product_id", "options", name="uq_product_variants_product_options"),
        Index("ix_product_variants_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = references("products.id")
    # The product's host, copied here: the variant's Redis keys share the host's hash tag, so
    # one script can hold every line of a cart in that host's room.
    host_id: Mapped[int] = references("users.id")
    options: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default="{}")
    label: Mapped[str] = mapped_column(String(120), default="", server_default="")
    price_minor: Mapped[int | None]
    stock: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True, server_default="true")
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = now_column()


class OrderLine(Base):
    """One variant of a regular-price order, at the price it had when ordered."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("order_id", "variant_id", name="uq_order_lines_order_variant"),
        Index("ix_order_lines_order_id", "order_id"),
        Index("ix_order_lines_variant_id", "variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = references("orders.id")
    product_id: Mapped[int] = references("products.id")
    variant_id: Mapped[int] = references("product_variants.id")
    # "Silk scarf — Blue / M" when ordered: what the buyer's orders page shows.
    title: Mapped[str] = mapped_column(String(250))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int]
    amount_minor: Mapped[int]
    # The host's rate for this line's product in this room, snapshotted (product, room, default).
    commission_rate_bp: Mapped[int] = mapped_column(Integer)


class OrderEventType(StrEnum):
    """`order_events.type`: an order's moves, named in the past tense. Written here and by the
    batched order writer's SQL (`orders/writer.py`, `order_placed`)."""

    ORDER_PLACED = "order_placed"
    ORDER_PAID = "order_paid"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_EXPIRED = "order_expired"
    ORDER_COMPLETED = "order_completed"
    ORDER_REFUNDED = "order_refunded"
    # The buyer asked for a refund (regular-price orders); ops decide.
    REFUND_REQUESTED = "refund_requested"


class OrderEvent(EventLogEntry, Base):
    """Append-only log of every order status move. Analytics read it; nothing edits it."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id", "order_id"),)

    order_id: Mapped[int] = references("orders.id")
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))


class SaleEventType(StrEnum):
    """`sale_events.type`: a sale's lifecycle, named in the past tense."""

    SALE_CREATED = "sale_created"
    SALE_STARTED = "sale_started"
    SALE_ENDED = "sale_ended"
    SALE_STOPPED = "sale_stopped"
    SALE_STOPPED_ROOM_ENDED = "sale_stopped_room_ended"
    SALE_SETTLED = "sale_settled"
    SALE_RECONCILED = "sale_reconciled"
    RESERVATIONS_VOIDED = "reservations_voided"


class SaleEvent(EventLogEntry, Base):
    """Append-only log of a sale's lifecycle (created, started, stopped, ended, settled,
    reconciled)."""

    __tablename__ = "sale_events"
    __table_args__ = (Index("ix_sale_events_sale_id", "sale_id"),)

    sale_id: Mapped[int] = references("sales.id")


class Payment(Base):
    """One payment attempt at a provider for an order."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status in ('processing', 'succeeded', 'failed', 'refunded')",
                        name="status"),
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        Index("ix_payments_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = references("orders.id")
    provider: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PaymentEvent(Base):
    """Every webhook event accepted from a provider, once: the unique event id makes a
    replayed or duplicated delivery a no-op."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[int | None] = references("orders.id")
    outcome: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = now_column()


class OutboxKind(StrEnum):
    """What an outbox message asks a worker to do."""

    # Deliver the sandbox gateway's signed webhook to our endpoint (orders.outbox.deliver_webhook).
    SANDBOX_WEBHOOK = "sandbox_webhook"
    # Ask the payment provider for a full refund, by its refund key (orders.outbox.deliver_refund).
    PROVIDER_REFUND = "provider_refund"


class OutboxMessage(Base):
    """Work for Celery written in the same transaction as the change that implies it; a task is
    enqueued after the commit, and a periodic relay re-enqueues what a crash left behind."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_undelivered", "created_at",
              postgresql_where=text("delivered_at is null")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_column()


class CommissionStatus(StrEnum):
    PENDING = "pending"
    FROZEN = "frozen"
    SETTLED = "settled"
    VOID = "void"


COMMISSION_MOVES: dict[CommissionStatus, frozenset[CommissionStatus]] = {
    # pending: the order is paid; frozen: delivered, inside the return window; settled: the
    # window passed. A refund before settlement voids the entry.
    CommissionStatus.PENDING: frozenset({CommissionStatus.FROZEN, CommissionStatus.VOID}),
    CommissionStatus.FROZEN: frozenset({CommissionStatus.SETTLED, CommissionStatus.VOID}),
    CommissionStatus.SETTLED: frozenset(),
    CommissionStatus.VOID: frozenset(),
}


class CommissionKind(StrEnum):
    ACCRUAL = "accrual"
    REVERSAL = "reversal"


class CommissionParty(StrEnum):
    """Who an entry pays: the order's host (level 0), or a sharer (level 1 or 2)."""

    HOST = "host"
    SHARER = "sharer"


class CommissionEntry(Base):
    """The host commission ledger: append-only rows. Only the status (and its timestamps)
    moves; an amount is never edited. A refund after settlement adds a negative `reversal`
    row. Balances are sums of rows."""

    __tablename__ = "commission_entries"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'frozen', 'settled', 'void')", name="status"),
        CheckConstraint("kind in ('accrual', 'reversal')", name="kind"),
        CheckConstraint("(kind = 'accrual' and amount_minor >= 0) or "
                        "(kind = 'reversal' and amount_minor <= 0)", name="amount_sign"),
        CheckConstraint("rate_bp >= 0 and rate_bp <= 10000", name="rate_range"),
        CheckConstraint("party in ('host', 'sharer')", name="party"),
        # Depth: the host's entry is level 0, a sharer's level 1 or 2, never more.
        CheckConstraint("(party = 'host' AND level = 0) OR "
                        "(party = 'sharer' AND level IN (1, 2))", name="depth"),
        # No commission on one's own purchase.
        CheckConstraint("party = 'host' OR (buyer_id IS NOT NULL AND buyer_id <> host_id)",
                        name="not_own_purchase"),
        # No cycle: a level-2 entry names the level-1 sharer, who is neither earner nor buyer.
        CheckConstraint("(level = 2 AND via_id IS NOT NULL AND via_id <> host_id "
                        "AND via_id <> buyer_id) OR (level <> 2 AND via_id IS NULL)",
                        name="chain"),
        # One accrual and at most one reversal per order and earner's place (the host, the
        # level-1 sharer, the level-2 sharer): a hook that runs twice adds nothing.
        UniqueConstraint("order_id", "kind", "party", "level",
                         name="uq_commission_entries_order_kind"),
        Index("ix_commission_entries_host_created", "host_id", "created_at"),
        Index("ix_commission_entries_room_id", "room_id"),
        # The settle sweep reads only frozen entries, earliest window end first.
        Index("ix_commission_entries_frozen_until", "frozen_until",
              postgresql_where=text("status = 'frozen'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The earner: the order's host for a host's entry, the sharer for a sharer's entry.
    host_id: Mapped[int] = references("users.id")
    order_id: Mapped[int] = references("orders.id")
    room_id: Mapped[int] = references("rooms.id")
    kind: Mapped[str] = mapped_column(String(10))
    party: Mapped[str] = enum_column(CommissionParty.HOST, length=6)
    level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # A sharer's entry: the order's buyer, and (level 2) the level-1 sharer it came through.
    buyer_id: Mapped[int | None] = references("users.id")
    via_id: Mapped[int | None] = references("users.id")
    # The amount actually paid, and the rate snapshotted on the order: amount = base * rate.
    base_minor: Mapped[int]
    rate_bp: Mapped[int]
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = now_column()
    frozen_at: Mapped[datetime | None]
    frozen_until: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]

    def public(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id, "host_id": self.host_id, "order_id": self.order_id,
            "room_id": self.room_id, "kind": self.kind, "party": self.party,
            "level": self.level, "base_minor": self.base_minor,
            "rate_bp": self.rate_bp, "amount_minor": self.amount_minor,
            "currency": self.currency, "status": self.status,
            "created_at": iso(self.created_at), "frozen_at": iso(self.frozen_at),
            "frozen_until": iso(self.frozen_until), "settled_at": iso(self.settled_at),
            "voided_at": iso(self.voided_at),
        }


# The live package's rooms table, read (never written) for the titles on commission statements,
# named here rather than imported: the orders package depends on core and realtime only.
rooms_table = table("rooms", column("id"), column("title"))
# The same table's hosts and statuses, read by the unwritten-hold sweep of regular-price orders
# (orders/regular.py) to look only at hosts whose rooms are live or ended lately.
room_hosts_table = table("rooms", column("id"), column("host_id"), column("status"),
                         column("ended_at"))
# The live package's short videos and replays: a regular-price buy from a ready one holds units
# whether or not a room is live, so the same sweep looks at their hosts too.
video_hosts_table = table("short_videos", column("host_id"), column("status"))
# The live package's products, read for the sharer's rate (products.share_rate_bp).
products_share_table = table("products", column("id"), column("share_rate_bp"))
# The share attributions (sharing/models.py), read by the ledger to find an order's sharers.
share_attributions_table = table("share_attributions", column("id"), column("user_id"),
                                 column("sharer_id"), column("clicked_at"),
                                 column("expires_at"))
