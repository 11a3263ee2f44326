"""What crosses the HTTP boundary for sales, buys, orders and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SaleIn(Strict):
    product_id: int
    price_minor: int = Field(ge=0, le=10**12, description="sale price in minor units")
    quantity: int = Field(ge=1, le=1_000_000, description="units on sale, taken from the "
                          "product's stock")
    per_user_limit: int = Field(default=1, ge=1, le=100)
    starts_at: datetime | None = Field(default=None, description="omit (with start_in_seconds) "
                                       "to start now")
    start_in_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600,
                                         description="warm-up countdown before the start")
    duration_seconds: int = Field(ge=5, le=7 * 24 * 3600)

    @field_validator("starts_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2026-01-01T20:00:00Z")
        return value

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


class BuyIn(Strict):
    quantity: int = Field(default=1, ge=1, le=100)


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
