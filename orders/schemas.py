"""What crosses the HTTP boundary for sales, buys, orders and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.types import Id, check_schedule


class Actor(Protocol):
    """Who asks for a change: a signed-in user's id, and whether they are ops."""

    @property
    def id(self) -> int: ...

    @property
    def is_ops(self) -> bool: ...


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SaleIn(Strict):
    product_id: Id
    price_minor: int = Field(ge=0, le=10**12, description="sale price in minor units")
    quantity: int = Field(ge=1, le=1_000_000, description="units on sale, taken from the "
                          "product's stock")
    per_user_limit: int = Field(default=1, ge=1, le=100)
    starts_at: datetime | None = Field(default=None, description="omit (with start_in_seconds) "
                                       "to start now")
    start_in_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600,
                                         description="warm-up countdown before the start")
    duration_seconds: int = Field(ge=5, le=7 * 24 * 3600)
    confirm_above_regular: bool = Field(default=False, description="a sale price above the "
                                        "product's regular price is refused (422, field "
                                        "`price_minor`) unless this is true")

    @field_validator("starts_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        return check_schedule(value)

    @model_validator(mode="after")
    def one_start(self) -> SaleIn:
        if self.starts_at is not None and self.start_in_seconds is not None:
            raise ValueError("give starts_at or start_in_seconds, not both")
        return self


class SaleOut(BaseModel):
    id: int
    room_id: int
    product_id: int
    price_minor: int
    currency: str
    quantity: int
    per_user_limit: int
    starts_at_ms: int
    ends_at_ms: int
    status: str
    remaining: int | None
    reserved: int | None
    sold: int | None
    server_time_ms: int


class SalesOut(BaseModel):
    sales: list[SaleOut]


class OrderSourceIn(Strict):
    """Where the buyer pressed buy: `live` (the sale's room; `id` the room), `replay` or `video`
    (`id` the video, which must be ready and show the sale's product)."""

    kind: Literal["live", "replay", "video"]
    id: Id


class BuyIn(Strict):
    quantity: int = Field(default=1, ge=1, le=100)
    # Sent by a replay's or a short video's page; the room page sends none (the live room).
    source: OrderSourceIn | None = None


class OrderSourceOut(BaseModel):
    kind: str
    id: int


class ShareEntryOut(BaseModel):
    level: int
    sharer_id: int
    sharer_name: str
    kind: str
    rate_bp: int
    amount_minor: int
    currency: str
    status: str


class OrderShareOut(BaseModel):
    """Whether a sharer was credited on this order, and how much (docs/social.md)."""

    credited: bool
    total_minor: int
    entries: list[ShareEntryOut]


class OrderOut(BaseModel):
    id: int
    sale_id: int
    room_id: int
    product_id: int
    status: str
    quantity: int
    amount_minor: int
    currency: str
    hold_expires_at: str
    hold_expires_at_ms: int
    payment_url: str
    created_at: str
    source: OrderSourceOut
    # One order's view (GET /api/orders/{id}, the buyer's order events) says what sharers it
    # credited; the buy reply and lists leave it out.
    share: OrderShareOut | None = None


class BuyOut(BaseModel):
    order: OrderOut


class OrdersOut(BaseModel):
    orders: list[OrderOut]


class OrderEventOut(BaseModel):
    id: int
    type: str
    from_status: str | None
    to_status: str
    actor_id: int | None
    data: dict[str, Any]
    created_at: str


class OrderEventsOut(BaseModel):
    events: list[OrderEventOut]


class ReconcileOut(BaseModel):
    sale_id: int
    epoch: int
    available: int
    reserved: int
    sold: int
    initial: int


class WebhookOut(BaseModel):
    received: bool
    outcome: str


class CommissionEntryOut(BaseModel):
    id: int
    host_id: int
    order_id: int
    room_id: int
    room_title: str | None
    host_name: str | None
    kind: str = Field(description="accrual | reversal (negative, after a refund of a settled one)")
    base_minor: int = Field(description="the amount actually paid (negative on a reversal)")
    rate_bp: int = Field(description="rate snapshotted on the order, basis points")
    amount_minor: int
    currency: str
    status: str = Field(description="pending | frozen | settled | void")
    created_at: str
    frozen_at: str | None
    frozen_until: str | None
    settled_at: str | None
    voided_at: str | None


class CommissionTotalsOut(BaseModel):
    pending_minor: int
    frozen_minor: int
    settled_minor: int
    void_minor: int
    available_to_pay_minor: int
    expected_minor: int
    entries: int


class CommissionStatementOut(BaseModel):
    host_id: int | None
    room_id: int | None
    month: str | None
    totals: dict[str, CommissionTotalsOut] = Field(description="by currency")
    entries: list[CommissionEntryOut]


class CommissionBalancesOut(BaseModel):
    host_id: int | None
    balances: dict[str, CommissionTotalsOut] = Field(description="by currency, all time")
