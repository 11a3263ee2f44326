"""What crosses the HTTP boundary for rooms, products and the lineup."""

from __future__ import annotations

from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Sizes a real shop needs, and what bounds every copy of them (the room's Redis
# state and history, each viewer's first frame). A title fits a card on a phone;
# a description is a few paragraphs (a marketplace listing's is about 1,000
# characters); 100 products is more than a host can present in one show.
# URLs are capped by pydantic's AnyHttpUrl at 2,083 characters.
TITLE_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 2000
LINEUP_MAX_PRODUCTS = 100


class ProductIn(Strict):
    title: str = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    description: str = Field(default="", max_length=DESCRIPTION_MAX_LENGTH)
    image_url: AnyHttpUrl | None = None
    price_minor: int = Field(ge=0, le=10**12, description="price in minor units (cents)")
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    stock: int = Field(ge=0, le=10**9)
    commission_rate_bp: int | None = Field(
        default=None, ge=0, le=10000,
        description="host commission in basis points (100 = 1%); null uses the default")


class ProductPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    image_url: AnyHttpUrl | None = None
    price_minor: int | None = Field(default=None, ge=0, le=10**12)
    stock: int | None = Field(default=None, ge=0, le=10**9)
    commission_rate_bp: int | None = Field(
        default=None, ge=0, le=10000,
        description="host commission in basis points (100 = 1%); null uses the default")


class ProductOut(BaseModel):
    id: int
    host_id: int
    title: str
    description: str
    image_url: str | None
    price_minor: int
    currency: str
    stock: int
    commission_rate_bp: int | None = None


class RoomIn(Strict):
    title: str = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    scheduled_at: datetime | None = None
    playback_url: AnyHttpUrl | None = None
    commission_rate_bp: int | None = Field(
        default=None, ge=0, le=10000,
        description="host commission in basis points (100 = 1%); null uses the default")

    @field_validator("scheduled_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2026-01-01T20:00:00Z")
        return value


class RoomPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    scheduled_at: datetime | None = None
    playback_url: AnyHttpUrl | None = None
    slow_mode_seconds: int | None = Field(default=None, ge=0, le=3600)
    commission_rate_bp: int | None = Field(
        default=None, ge=0, le=10000,
        description="host commission in basis points (100 = 1%); null uses the default")


class RoomOut(BaseModel):
    id: int
    host_id: int
    title: str
    scheduled_at: str | None
    status: str
    playback_url: str | None
    pinned_product_id: int | None
    slow_mode_seconds: int
    commission_rate_bp: int | None = None
    started_at: str | None
    ended_at: str | None


class RoomWithKey(RoomOut):
    stream_key: str


class LineupIn(Strict):
    product_ids: list[int] = Field(max_length=LINEUP_MAX_PRODUCTS,
                                   description="the whole lineup, in order")


class LineupOut(BaseModel):
    room_id: int
    products: list[ProductOut]


class PinIn(Strict):
    product_id: int


class StatusIn(Strict):
    status: str = Field(pattern="^(live|ended)$")


class MuteIn(Strict):
    user_id: int
    minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 30,
                                description="how long; omitted means until unmuted")


class RoomEventOut(BaseModel):
    id: int
    type: str
    actor_id: int | None
    data: dict[str, object]
    created_at: str


class RoomEventsOut(BaseModel):
    events: list[RoomEventOut]
