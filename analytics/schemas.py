"""What crosses the HTTP boundary for analytics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.types import Id


class TrackIn(BaseModel):
    """A product card event reported by the live room page."""

    model_config = ConfigDict(extra="forbid")

    event: Literal["product_view", "product_click"]
    product_id: Id


class VideoTrackIn(BaseModel):
    """An event of a short video's or a replay's page: playback started (`video_view`), the
    seconds played since the last heartbeat (`video_watch` with `seconds`), a product card
    tapped (`product_click` with `product_id`)."""

    model_config = ConfigDict(extra="forbid")

    event: Literal["video_view", "video_watch", "product_click"]
    product_id: Id | None = None
    seconds: int | None = Field(default=None, ge=1, le=60)


class VideoReportOut(BaseModel):
    """A short video's or a replay's numbers; docs/metrics.md defines every field."""

    video: dict[str, Any]
    views: int
    unique_viewers: int
    watch_seconds: int
    avg_watch_seconds: int
    product_clicks: int
    clickers: int
    orders: int
    paid_orders: int
    buyers: int
    currency: str | None
    gmv_minor: int
    refunded_minor: int
    net_gmv_minor: int
    click_rate: float | None
    conversion_rate: float | None
    other_currencies: list[dict[str, Any]]
    products: list[dict[str, Any]]


class VideoListOut(BaseModel):
    videos: list[dict[str, Any]]


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
    # Read fresh each time (a replay keeps selling after the report is built): the paid
    # orders by where they were bought, and the room's replay's numbers.
    sources: dict[str, Any] | None = None


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
