"""What crosses the HTTP boundary for analytics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from core.types import Id


class TrackIn(BaseModel):
    """A product card event reported by the live room page."""

    model_config = ConfigDict(extra="forbid")

    event: Literal["product_view", "product_click"]
    product_id: Id


class TrackOut(BaseModel):
    recorded: bool


class ReportOut(BaseModel):
    """The broadcast report; docs/metrics.md defines every field."""

    room: dict[str, Any]
    summary: dict[str, Any]
    funnel: list[dict[str, Any]]
    products: list[dict[str, Any]]
    pins: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    other_currencies: list[dict[str, Any]]


class BroadcastListOut(BaseModel):
    broadcasts: list[dict[str, Any]]


class LiveNumbersOut(BaseModel):
    room: dict[str, Any]
    as_of: str | None
    currency: str | None
    orders: int
    paid_orders: int
    gmv_minor: int
    net_gmv_minor: int
    buyers: int
    viewers_now: int
    unique_viewers: int
    chat_messages: int
    likes: int
    product_clicks: int
    top_products: list[dict[str, Any]]
    other_currencies: list[dict[str, Any]]
