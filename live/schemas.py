"""What crosses the HTTP boundary for rooms, products and the lineup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema

from core.types import Id, Line, Text, check_line, check_schedule, check_text, refuse_null


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

# A product's or a room's host commission; at most 100% (10,000 basis points).
CommissionRate = Annotated[int | None, Field(
    ge=0, le=10000,
    description="host commission in basis points (100 = 1%); null uses the default")]


class ProductIn(Strict):
    title: Line = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    description: Text = Field(default="", max_length=DESCRIPTION_MAX_LENGTH)
    image_url: AnyHttpUrl | None = None
    price_minor: int = Field(ge=0, le=10**12, description="price in minor units (cents)")
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    stock: int = Field(ge=0, le=10**9, description="units in stock: the product's one default "
                       "variant's, which flash sales and regular-price buys share "
                       "(docs/decisions/0021)")
    commission_rate_bp: CommissionRate = None
    share_rate_bp: int | None = Field(
        default=None, ge=0, le=10000,
        description="what a sharer earns on an order of this product, in basis points; null "
                    "uses the platform default; the platform cap applies (docs/social.md)")


class ProductPatch(Strict):
    """Only the fields given change. A field that cannot be empty (title, description, price,
    stock) refuses null with a 422 naming it: omit it to keep its value. A field that can be
    empty (image_url, commission_rate_bp, share_rate_bp) takes null to clear it."""

    # None is only the "not given" default (update_product applies the fields that were set);
    # SkipJsonSchema keeps null out of the documented type, and not_null refuses it as input.
    title: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    description: str | SkipJsonSchema[None] = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    image_url: AnyHttpUrl | None = None
    price_minor: int | SkipJsonSchema[None] = Field(default=None, ge=0, le=10**12)
    stock: int | SkipJsonSchema[None] = Field(
        default=None, ge=0, le=10**9,
        description="the default variant's stock; refused for a product with sizes or colours "
                    "(409 product_has_options: set each variant's) and below the units its "
                    "orders hold or bought (409 stock_below_committed)")
    commission_rate_bp: CommissionRate = None
    share_rate_bp: int | None = Field(
        default=None, ge=0, le=10000,
        description="what a sharer earns on an order of this product, in basis points; null "
                    "uses the platform default; the platform cap applies (docs/social.md)")

    # Checked on the field, not in a Line/Text type inside the union, so that an error
    # names the field alone rather than the union's branches.
    @field_validator("title", "description", "price_minor", "stock", mode="before")
    @classmethod
    def not_null(cls, value: object) -> object:
        return refuse_null(value)

    @field_validator("title")
    @classmethod
    def one_line(cls, value: str | None) -> str | None:
        return None if value is None else check_line(value)

    @field_validator("description")
    @classmethod
    def text(cls, value: str | None) -> str | None:
        return None if value is None else check_text(value)


class ProductOut(BaseModel):
    id: int
    host_id: int
    title: str
    description: str
    image_url: str | None
    price_minor: int
    currency: str
    stock: int = Field(description="the stock of its active variants together (held and bought "
                       "units included, units on flash sale not)")
    commission_rate_bp: int | None = None
    share_rate_bp: int | None = None


class RoomIn(Strict):
    title: Line = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    scheduled_at: datetime | None = None
    playback_url: AnyHttpUrl | None = None
    commission_rate_bp: CommissionRate = None

    @field_validator("scheduled_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        return check_schedule(value)


class RoomPatch(Strict):
    """Only the fields given change. title and slow_mode_seconds refuse null with a 422 naming
    the field (omit them to keep their value); scheduled_at, playback_url and
    commission_rate_bp take null to clear them."""

    # None is only the "not given" default, as in ProductPatch.
    title: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    scheduled_at: datetime | None = None
    playback_url: AnyHttpUrl | None = None
    slow_mode_seconds: int | SkipJsonSchema[None] = Field(default=None, ge=0, le=3600)
    # A viewer's chat line such as `buy 2 blue M` holds an order (docs/architecture.md). Not
    # a union with None: a bad value is named `comment_to_buy`, and an unset one is not dumped.
    comment_to_buy: StrictBool = False
    commission_rate_bp: CommissionRate = None

    @field_validator("scheduled_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        return check_schedule(value)

    @field_validator("title", "slow_mode_seconds", "comment_to_buy", mode="before")
    @classmethod
    def not_null(cls, value: object) -> object:
        return refuse_null(value)

    @field_validator("title")
    @classmethod
    def one_line(cls, value: str | None) -> str | None:
        return None if value is None else check_line(value)


class RoomOut(BaseModel):
    id: int
    host_id: int
    title: str
    scheduled_at: str | None
    status: str
    playback_url: str | None
    pinned_product_id: int | None
    slow_mode_seconds: int
    comment_to_buy: bool = False
    commission_rate_bp: int | None = None
    started_at: str | None
    ended_at: str | None


class RoomWithKey(RoomOut):
    stream_key: str


class LineupIn(Strict):
    product_ids: list[Id] = Field(max_length=LINEUP_MAX_PRODUCTS,
                                  description="the whole lineup, in order")


class LineupOut(BaseModel):
    room_id: int
    products: list[ProductOut]


class PinIn(Strict):
    product_id: Id


class StatusIn(Strict):
    status: str = Field(pattern="^(live|ended)$")
    end_running_sale: bool = Field(default=False, description="ending a room with a flash sale "
                                   "still on is refused (409 `sale_running`) unless this is true; "
                                   "the sale then stops with the room")


class MuteIn(Strict):
    user_id: Id
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


# A short video is at most minutes long: a tag every few seconds is already a lot.
VIDEO_TAGS_MAX = 50
# Three hours in milliseconds: past any short video's length (the video's own length, once
# known, is checked by the action).
TAG_AT_MS_MAX = 3 * 3600 * 1000


class VideoTagIn(Strict):
    product_id: Id
    at_ms: int = Field(ge=0, le=TAG_AT_MS_MAX, description="from this moment of the video")


class VideoTagsIn(Strict):
    tags: list[VideoTagIn] = Field(max_length=VIDEO_TAGS_MAX,
                                   description="every tag of the video (replaces them)")
