"""What crosses the HTTP boundary for rooms, products and the lineup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
)
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
ShareRate = Annotated[int | None, Field(
    ge=0, le=10000,
    description="what a sharer earns on an order of this product, in basis points; null "
                "uses the platform default; the platform cap applies (docs/social.md)")]
# When a room is due to go live: timezone-aware, within the scheduling horizon.
Schedule = Annotated[datetime | None, AfterValidator(check_schedule)]


def _line_unless_none(value: str | None) -> str | None:
    return None if value is None else check_line(value)


def _text_unless_none(value: str | None) -> str | None:
    return None if value is None else check_text(value)


# The fields of a PATCH that cannot be empty. None is only the "not given" default (the action
# applies the fields that were set); SkipJsonSchema keeps null out of the documented type, and
# `refuse_null` refuses it as input. The checks wrap the field, not a Line/Text type inside the
# union, so that an error names the field alone rather than the union's branches.
NotNull = BeforeValidator(refuse_null)
PatchLine = Annotated[str | SkipJsonSchema[None], NotNull, AfterValidator(_line_unless_none)]
PatchText = Annotated[str | SkipJsonSchema[None], NotNull, AfterValidator(_text_unless_none)]
PatchInt = Annotated[int | SkipJsonSchema[None], NotNull]


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
    share_rate_bp: ShareRate = None


class ProductPatch(Strict):
    """Only the fields given change. A field that cannot be empty (title, description, price,
    stock) refuses null with a 422 naming it: omit it to keep its value. A field that can be
    empty (image_url, commission_rate_bp, share_rate_bp) takes null to clear it."""

    title: PatchLine = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    description: PatchText = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    image_url: AnyHttpUrl | None = None
    price_minor: PatchInt = Field(default=None, ge=0, le=10**12)
    stock: PatchInt = Field(
        default=None, ge=0, le=10**9,
        description="the default variant's stock; refused for a product with sizes or colours "
                    "(409 product_has_options: set each variant's) and below the units its "
                    "orders hold or bought (409 stock_below_committed)")
    commission_rate_bp: CommissionRate = None
    share_rate_bp: ShareRate = None


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
    scheduled_at: Schedule = None
    playback_url: AnyHttpUrl | None = None
    commission_rate_bp: CommissionRate = None


class RoomPatch(Strict):
    """Only the fields given change. title and slow_mode_seconds refuse null with a 422 naming
    the field (omit them to keep their value); scheduled_at, playback_url and
    commission_rate_bp take null to clear them."""

    title: PatchLine = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    scheduled_at: Schedule = None
    playback_url: AnyHttpUrl | None = None
    slow_mode_seconds: PatchInt = Field(default=None, ge=0, le=3600)
    # A viewer's chat line such as `buy 2 blue M` holds an order (docs/architecture.md). Not
    # a union with None: a bad value is named `comment_to_buy`, and an unset one is not dumped.
    comment_to_buy: Annotated[StrictBool, NotNull] = False
    commission_rate_bp: CommissionRate = None


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
