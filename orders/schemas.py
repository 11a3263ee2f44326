"""What crosses the HTTP boundary for sales, buys, orders and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.errors import present
from core.types import Id, check_schedule


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SaleIn(Strict):
    product_id: Id
    price_minor: int = Field(ge=0, le=10**12, description="sale price in minor units")
    quantity: int = Field(ge=1, le=1_000_000, description="units on sale, taken from the "
                          "variant's stock (the product's, for a product without options)")
    variant_id: Id | None = Field(default=None, description="the size or colour whose units "
                                  "go on sale; required for a product with options "
                                  "(422 variant_required), omit for one without")
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
    variant_id: int | None
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

    model_config = ConfigDict(frozen=True)

    kind: Literal["live", "replay", "video"]
    id: Id


class BuyIn(Strict):
    # Frozen: a validated body is kept and shared by the requests that send the same bytes
    # (web.validation.parse_body), thousands a second in a flash sale.
    model_config = ConfigDict(frozen=True)

    quantity: int = Field(default=1, ge=1, le=100)
    # Sent by a replay's or a short video's page; the room page sends none (the live room).
    source: OrderSourceIn | None = None
    coupon_claim_id: Id | None = Field(default=None, description="one of your live-room "
                                       "coupons of the sale's room, taken off the amount paid "
                                       "(the room page only)")


class OrderSourceOut(BaseModel):
    kind: str
    id: int


class OrderLineOut(BaseModel):
    product_id: int
    variant_id: int
    title: str
    options: dict[str, str]
    quantity: int
    unit_price_minor: int
    amount_minor: int


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
    sale_id: int | None = Field(description="the flash sale; null for a regular-price order")
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
    kind: str = Field(default="sale", description="sale | regular")
    lines: list[OrderLineOut] | None = Field(default=None, description="a regular-price "
                                             "order's items")
    shipping_address: dict[str, str] | None = None
    discount_minor: int | None = Field(default=None, description="a regular-price order's "
                                       "live-room coupon discount, already off amount_minor")
    coupon_claim_id: int | None = Field(default=None, description="the coupon claim it used")
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


# Variants, regular-price buying, the cart, the shipping address -------------------------------

OptionName = Annotated[str, StringConstraints(min_length=1, max_length=30)]
OptionValue = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class OptionIn(Strict):
    name: OptionName
    values: list[OptionValue] = Field(min_length=1, max_length=30)


class VariantIn(Strict):
    options: dict[OptionName, OptionValue] = Field(
        default_factory=dict, description="one value of each option, e.g. "
        '{"size": "M", "colour": "Blue"}; {} for a product without options')
    stock: int = Field(ge=0, le=1_000_000, description="units for sale at the regular price")
    price_minor: int | None = Field(default=None, ge=0, le=10**12,
                                    description="omit to sell at the product's price")


class VariantsIn(Strict):
    options: list[OptionIn] = Field(default_factory=list, max_length=3)
    variants: list[VariantIn] = Field(min_length=1, max_length=200)


def variant_problems(data: VariantsIn) -> list[dict[str, str]]:
    """What is wrong with a definition of variants, each naming its field."""
    names = [o.name for o in data.options]
    problems = []
    if len(set(names)) != len(names):
        problems.append({"field": "options", "message": "an option is named twice",
                         "code": "option_named_twice"})
    allowed = {o.name: set(o.values) for o in data.options}
    seen: set[tuple[tuple[str, str], ...]] = set()
    for index, variant in enumerate(data.variants):
        where = f"variants[{index}].options"
        if set(variant.options) != set(names):
            problems.append({"field": where, "message": "give exactly one value of each option "
                             f"({', '.join(names) or 'none'})"})
            continue
        for name, value in variant.options.items():
            if value not in allowed[name]:
                problems.append({"field": where,
                                 "message": f"{value!r} is not a value of {name!r}"})
        key = tuple(sorted(variant.options.items()))
        if key in seen:
            problems.append({"field": where, "message": "this combination is listed twice"})
        seen.add(key)
    return problems


class VariantOut(BaseModel):
    id: int
    product_id: int
    options: dict[str, str]
    label: str
    price_minor: int
    own_price: bool
    stock: int
    active: bool
    remaining: int | None
    held: int | None
    sold: int | None


class OptionOut(BaseModel):
    name: str
    values: list[str]


class VariantsOut(BaseModel):
    product_id: int
    currency: str
    options: list[OptionOut]
    variants: list[VariantOut]


class RegularBuyIn(Strict):
    variant_id: Id
    quantity: int = Field(default=1, description="1 up to REGULAR_MAX_QUANTITY")
    coupon_claim_id: Id | None = Field(default=None, description="one of your live-room "
                                       "coupons of this room, taken off the amount paid")


class CheckoutIn(Strict):
    coupon_claim_id: Id | None = Field(default=None, description="one of your live-room "
                                       "coupons of this room, taken off the amount paid")


class CartLineIn(Strict):
    quantity: int = Field(description="0 removes the line; at most REGULAR_MAX_QUANTITY")


class CartLineOut(BaseModel):
    variant_id: int
    product_id: int
    title: str
    options: dict[str, str]
    quantity: int
    unit_price_minor: int
    amount_minor: int
    remaining: int | None


class CartOut(BaseModel):
    room_id: int
    lines: list[CartLineOut]
    total_minor: int
    currency: str | None


class AddressIn(Strict):
    name: str = Field(min_length=1, max_length=80)
    line1: str = Field(min_length=1, max_length=120)
    line2: str = Field(default="", max_length=120)
    city: str = Field(min_length=1, max_length=80)
    region: str = Field(default="", max_length=80)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(min_length=2, max_length=2, pattern="^[A-Z]{2}$",
                         description="ISO 3166-1 alpha-2, e.g. CN, US")
    phone: str = Field(min_length=5, max_length=30, pattern=r"^[0-9+()\- ]+$")


class AddressOut(BaseModel):
    shipping_address: dict[str, str] | None


# Live-room coupons (orders/coupons.py) ------------------------------------------------------


class CouponIn(Strict):
    kind: Literal["amount", "percent"] = Field(description="amount off, or percent off with a "
                                               "cap")
    amount_off_minor: int | None = Field(default=None, ge=1, le=10**12,
                                         description="amount off (kind amount)")
    percent_off: int | None = Field(default=None, ge=1, le=100,
                                    description="percent off (kind percent)")
    max_off_minor: int | None = Field(default=None, ge=1, le=10**12,
                                      description="the most a percent-off coupon takes off")
    min_spend_minor: int = Field(default=0, ge=0, le=10**12,
                                 description="the order's amount it needs before the discount")
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    quantity: int = Field(ge=1, description="copies (COUPON_MAX_QUANTITY at most), one per "
                          "viewer")
    valid_seconds: int = Field(ge=60, description="valid this long after the drop "
                               "(COUPON_MAX_VALID_SECONDS at most)")
    followers_only: bool = Field(default=False, description="only the host's followers may "
                                 "claim it")


class CouponClaimOut(BaseModel):
    id: int
    used: bool
    order_id: int | None


class CouponOut(BaseModel):
    id: int
    room_id: int
    host_id: int
    kind: str
    amount_off_minor: int | None
    percent_off: int | None
    max_off_minor: int | None
    min_spend_minor: int
    currency: str
    quantity: int
    left: int
    followers_only: bool
    valid_until_ms: int
    claim: CouponClaimOut | None = Field(default=None, description="yours, if you claimed it")


class RoomCouponsOut(BaseModel):
    room_id: int
    coupons: list[CouponOut]


class ClaimOut(BaseModel):
    claim_id: int
    coupon_id: int
    left: int


# Bargains (orders/bargains.py) ---------------------------------------------------------------


class BargainOfferIn(Strict):
    product_id: Id = Field(description="a product in the room's lineup")
    variant_id: Id | None = Field(default=None, description="the variant offered; may be "
                                  "omitted for a product with one variant")
    start_price_minor: int = Field(ge=1, le=10**12, description="the price before any cut")
    floor_price_minor: int = Field(ge=0, le=10**12, description="the price the last helper "
                                   "reaches exactly (at least 1, below the start)")
    helpers_needed: int = Field(ge=0, le=10**6, description="distinct friends needed to reach "
                                "the floor (1 to 50, at most start - floor)")
    ends_at: datetime = Field(description="the deadline (with a time zone), in the future and "
                              "within 30 days")

    @field_validator("ends_at")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        return present(check_schedule(value), "the checked deadline")


class BargainOfferOut(BaseModel):
    id: int
    room_id: int
    host_id: int
    product_id: int
    variant_id: int
    title: str
    currency: str
    start_price_minor: int
    floor_price_minor: int
    helpers_needed: int
    ends_at: str
    ends_at_ms: int
    open: bool = Field(description="a bargain may start on it now: before the deadline and "
                       "not withdrawn")
    withdrawn: bool = Field(description="the host withdrew it (bargains started keep their "
                            "deadline)")
    bargains: int | None = Field(default=None, description="how many buyers started a "
                                 "bargain on it (in the room's list and the withdrawal's "
                                 "reply)")
    cuts: list[int] = Field(description="the published schedule: the i-th friend's cut")
    bargain_id: int | None = Field(default=None, description="yours on this offer, if started")


class RoomBargainOffersOut(BaseModel):
    room_id: int
    offers: list[BargainOfferOut]


class BargainStartedOut(BaseModel):
    bargain_id: int
    created: bool


class BargainCutOut(BaseModel):
    seq: int
    helper_id: int
    name: str
    amount_minor: int
    price_after_minor: int
    at_ms: int


class BargainOut(BaseModel):
    id: int
    offer: BargainOfferOut
    buyer: dict[str, Any]
    price_minor: int
    currency: str
    helpers: int
    helpers_needed: int
    to_go_minor: int = Field(description="the price now less the floor")
    next_cut_minor: int | None = Field(description="the next friend's cut, by the rule")
    complete: bool
    open: bool
    ends_at_ms: int
    server_now_ms: int
    cuts: list[BargainCutOut]
    order: dict[str, Any] | None = Field(description="the buyer's order (the buyer only)")
    bought: bool
    viewer: dict[str, bool]


class BargainHelpOut(BaseModel):
    bargain_id: int
    seq: int
    cut_minor: int
    price_minor: int
