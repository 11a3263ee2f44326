"""What crosses the HTTP boundary for rains, draws and the wallet."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.types import Line

# A rain's countdown and length, and a draw's countdown: long enough for any show's rhythm,
# short enough that a typo (an hour-long rain) is refused rather than left running.
MAX_RAIN_COUNTDOWN_SECONDS = 600
MAX_RAIN_SECONDS = 600
MAX_DRAW_SECONDS = 3600
# A pool in minor units: 10^12 is ten billion of a two-decimal currency; larger is a typo.
MAX_POOL_MINOR = 10**12


class RainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    envelope_count: int = Field(ge=1, description="how many envelopes (RAIN_MAX_ENVELOPES at most)")
    total_minor: int = Field(ge=1, le=MAX_POOL_MINOR, description="the pool, in minor units")
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    countdown_seconds: int = Field(ge=0, le=MAX_RAIN_COUNTDOWN_SECONDS,
                                   description="seconds before the rain opens")
    duration_seconds: int = Field(default=30, ge=1, le=MAX_RAIN_SECONDS,
                                  description="seconds the rain stays open")
    min_minor: int | None = Field(default=None, ge=1, le=MAX_POOL_MINOR,
                                  description="the smallest envelope (default and floor: "
                                              "RAIN_MIN_ENVELOPE_MINOR)")


class RainOut(BaseModel):
    id: int
    room_id: int
    host_id: int
    total_minor: int
    currency: str
    envelope_count: int
    min_minor: int
    seed_hash: str
    seed: str | None
    opens_at_ms: int
    closes_at_ms: int
    status: str
    grabbed: int | None
    returned_minor: int | None


class EnvelopeOut(BaseModel):
    seq: int
    amount_minor: int
    user_id: int | None


class RainEnvelopesOut(BaseModel):
    rain: RainOut
    envelopes: list[EnvelopeOut]


class GrabOut(BaseModel):
    rain_id: int
    seq: int
    amount_minor: int
    currency: str
    left: int


class DrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prize: Line = Field(min_length=1, max_length=200)
    winner_count: int = Field(ge=1, le=1000)
    rule: Literal["in_room", "keyword", "follows"] = Field(
        description="in_room: joined and still in the room at the close; keyword: sent the "
                    "keyword in chat while open; follows: follows the host at the close")
    keyword: Line | None = Field(default=None, min_length=1, max_length=40)
    countdown_seconds: int = Field(ge=5, le=MAX_DRAW_SECONDS)


class WinnerOut(BaseModel):
    id: int
    display_name: str


class DrawOut(BaseModel):
    id: int
    room_id: int
    host_id: int
    prize: str
    winner_count: int
    rule: str
    keyword: str | None
    seed_hash: str
    seed: str | None
    closes_at_ms: int
    status: str
    entrants: list[int] | None
    winners: list[int] | None
    entries: int | None
    entrants_count: int | None
    winner_names: list[WinnerOut] | None = None


class EnterOut(BaseModel):
    draw_id: int
    entered: bool
    new: bool


class HeldOut(BaseModel):
    rain_id: int
    seq: int
    amount_minor: int
    currency: str


class YouOut(BaseModel):
    envelope: HeldOut | None
    entered: bool


class RoomEngagementOut(BaseModel):
    rain: RainOut | None
    draw: DrawOut | None
    you: YouOut | None
    server_time_ms: int


class WalletOut(BaseModel):
    balances: dict[str, int]
