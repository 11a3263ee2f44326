"""What crosses the HTTP boundary for group buys."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.types import Id
from orders.schemas import Strict

# A group stays open from a minute to a week: shorter cannot gather friends, longer ties the
# group's units up past any broadcast's memory.
MIN_OPEN_SECONDS = 60
MAX_OPEN_SECONDS = 7 * 24 * 3600


class GroupDealIn(Strict):
    product_id: Id
    price_minor: int = Field(ge=0, le=10**12, description="each member's price, minor units")
    group_size: int = Field(ge=2, le=10, description="members a group needs to form")
    open_seconds: int = Field(ge=MIN_OPEN_SECONDS, le=MAX_OPEN_SECONDS,
                              description="how long a group stays open once opened")
    units: int = Field(ge=2, le=1_000_000, description="units the deal may use, taken from the "
                       "product's stock now; each open group sets group_size of them aside")
    confirm_above_regular: bool = Field(default=False, description="a group price above the "
                                        "product's regular price is refused unless this is true")


class GroupJoinIn(Strict):
    """An open's or a join's body (optional: an empty body is no coupon)."""

    coupon_claim_id: Id | None = Field(default=None, description="one of your live-room coupon "
                                       "claims of the deal's room, taken off the group price")


class GroupDealOut(BaseModel):
    id: int
    room_id: int
    product_id: int
    host_id: int
    price_minor: int
    currency: str
    group_size: int
    open_seconds: int
    units: int
    status: str
    available: int | None
    held: int | None
    sold: int | None


class GroupMemberOut(BaseModel):
    user_id: int
    display_name: str
    state: str = Field(description="paying (slot held), paid, or refunded")


class GroupOut(BaseModel):
    id: int
    deal_id: int
    code: str
    leader_id: int
    size: int
    status: str
    paid_count: int
    taken: int
    deadline_ms: int
    fail_reason: str | None
    server_time_ms: int
    members: list[GroupMemberOut]
    deal: dict[str, Any]
    path: str


class GroupsOut(BaseModel):
    groups: list[GroupOut]
    server_time_ms: int


class GroupJoinOut(BaseModel):
    group: GroupOut
    order: dict[str, Any]
