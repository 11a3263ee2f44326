"""Tables of the engagement package: red envelope rains and their envelopes, the wallet ledger,
lucky draws and their entries. Rules and algorithms: docs/engagement.md."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    column,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import to_epoch_ms
from core.columns import enum_column, now_column, references
from core.db import Base

# live's rooms, read (never written) for the host and status of a room.
rooms_table = table("rooms", column("id"), column("host_id"), column("status"))


class RainStatus(StrEnum):
    # Dropped: the envelopes exist, the countdown runs, then grabs are taken until closes_at.
    DROPPED = "dropped"
    # Settled: grabs are over, the unclaimed envelopes went back to the host, the seed is public.
    SETTLED = "settled"


RAIN_MOVES: dict[RainStatus, frozenset[RainStatus]] = {
    RainStatus.DROPPED: frozenset({RainStatus.SETTLED}),
    RainStatus.SETTLED: frozenset(),
}


class DrawStatus(StrEnum):
    OPEN = "open"
    # Drawn: the entrant list is frozen, the winners picked, the seed public. Nothing moves after.
    DRAWN = "drawn"


DRAW_MOVES: dict[DrawStatus, frozenset[DrawStatus]] = {
    DrawStatus.OPEN: frozenset({DrawStatus.DRAWN}),
    DrawStatus.DRAWN: frozenset(),
}


class EntryRule(StrEnum):
    # In the room when the draw closes: the viewer taps Join, and must still be watching then.
    IN_ROOM = "in_room"
    # Sent a chat line containing the draw's keyword while it was open.
    KEYWORD = "keyword"
    # Follows the host when the draw closes: every follower is entered at the close.
    FOLLOWS = "follows"


class WalletKind(StrEnum):
    ENVELOPE = "envelope"          # + a viewer grabbed an envelope
    RAIN_FUNDED = "rain_funded"    # - the host's pool, when the rain is dropped
    RAIN_RETURNED = "rain_returned"  # + the unclaimed envelopes, back to the host at settle


class Rain(Base):
    __tablename__ = "envelope_rains"
    __table_args__ = (
        CheckConstraint("status in ('dropped', 'settled')", name="status"),
        CheckConstraint("envelope_count > 0", name="count_positive"),
        CheckConstraint("min_minor > 0", name="min_positive"),
        CheckConstraint("total_minor >= envelope_count * min_minor", name="total_splits"),
        CheckConstraint("closes_at > opens_at", name="window"),
        # The commitment is the seed's hash, checked by the database itself.
        CheckConstraint("seed_hash = encode(sha256(seed), 'hex')", name="seed_committed"),
        CheckConstraint("(status = 'dropped') = (settled_at IS NULL)", name="settled_when"),
        Index("ix_envelope_rains_room_id", "room_id"),
        Index("ix_envelope_rains_dropped_closes_at", "closes_at",
              postgresql_where=text("status = 'dropped'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")
    host_id: Mapped[int] = references("users.id")
    total_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    envelope_count: Mapped[int]
    min_minor: Mapped[int]
    seed: Mapped[bytes] = mapped_column(LargeBinary)
    seed_hash: Mapped[str] = mapped_column(String(64))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    status: Mapped[str] = enum_column(RainStatus.DROPPED)
    settled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_column()

    def public(self, *, grabbed: int | None = None, returned_minor: int | None = None,
               ) -> dict[str, Any]:
        settled = self.status == RainStatus.SETTLED.value
        return {
            "id": self.id, "room_id": self.room_id, "host_id": self.host_id,
            "total_minor": self.total_minor, "currency": self.currency,
            "envelope_count": self.envelope_count, "min_minor": self.min_minor,
            "seed_hash": self.seed_hash,
            # Revealed only once the rain has settled: before, it would tell the amounts.
            "seed": self.seed.hex() if settled else None,
            "opens_at_ms": to_epoch_ms(self.opens_at), "closes_at_ms": to_epoch_ms(self.closes_at),
            "status": self.status, "grabbed": grabbed, "returned_minor": returned_minor,
        }


class Envelope(Base):
    """One envelope of a rain; its amount is fixed by the seed at the drop. `user_id` is set
    once, by the grab's commit: never moved, never cleared."""

    __tablename__ = "envelopes"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("seq > 0", name="seq_positive"),
        CheckConstraint("(user_id IS NULL) = (grabbed_at IS NULL)", name="grabbed_when"),
        UniqueConstraint("rain_id", "seq", name="uq_envelopes_rain_seq"),
        # Nobody grabs twice in one rain.
        Index("uq_envelopes_rain_user", "rain_id", "user_id", unique=True,
              postgresql_where=text("user_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rain_id: Mapped[int] = references("envelope_rains.id", ondelete="CASCADE")
    seq: Mapped[int]
    amount_minor: Mapped[int]
    user_id: Mapped[int | None] = references("users.id")
    grabbed_at: Mapped[datetime | None]


class WalletEntry(Base):
    """The wallet ledger: append-only (a trigger refuses UPDATE and DELETE). A balance is the
    sum of a user's entries in one currency. Each entry has one natural key, so writing it
    twice adds nothing."""

    __tablename__ = "wallet_entries"
    __table_args__ = (
        CheckConstraint("kind in ('envelope', 'rain_funded', 'rain_returned')", name="kind"),
        CheckConstraint("(kind = 'envelope' and amount_minor > 0 and envelope_seq IS NOT NULL) or "
                        "(kind = 'rain_funded' and amount_minor < 0 and envelope_seq IS NULL) or "
                        "(kind = 'rain_returned' and amount_minor >= 0 and envelope_seq IS NULL)",
                        name="amount_sign"),
        Index("uq_wallet_entries_envelope", "rain_id", "envelope_seq", unique=True,
              postgresql_where=text("kind = 'envelope'")),
        Index("uq_wallet_entries_rain_kind", "rain_id", "kind", unique=True,
              postgresql_where=text("kind <> 'envelope'")),
        Index("ix_wallet_entries_user_currency", "user_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = references("users.id")
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    rain_id: Mapped[int] = references("envelope_rains.id")
    envelope_seq: Mapped[int | None]
    created_at: Mapped[datetime] = now_column()


class Draw(Base):
    __tablename__ = "draws"
    __table_args__ = (
        CheckConstraint("status in ('open', 'drawn')", name="status"),
        CheckConstraint("rule in ('in_room', 'keyword', 'follows')", name="rule"),
        CheckConstraint("(rule = 'keyword') = (keyword IS NOT NULL)", name="keyword_rule"),
        CheckConstraint("winner_count > 0", name="winners_positive"),
        CheckConstraint("seed_hash = encode(sha256(seed), 'hex')", name="seed_committed"),
        # Open: no entrant list, no winners. Drawn: both, frozen (a trigger refuses any later
        # UPDATE of a drawn draw, and of the seed or terms of an open one).
        CheckConstraint("(status = 'open' and entrants IS NULL and winners IS NULL "
                        "and drawn_at IS NULL) or (status = 'drawn' and entrants IS NOT NULL "
                        "and winners IS NOT NULL and drawn_at IS NOT NULL)", name="drawn_when"),
        Index("ix_draws_room_id", "room_id"),
        Index("ix_draws_open_closes_at", "closes_at", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")
    host_id: Mapped[int] = references("users.id")
    prize: Mapped[str] = mapped_column(String(200))
    winner_count: Mapped[int]
    rule: Mapped[str] = mapped_column(String(10))
    keyword: Mapped[str | None] = mapped_column(String(40))
    seed: Mapped[bytes] = mapped_column(LargeBinary)
    seed_hash: Mapped[str] = mapped_column(String(64))
    closes_at: Mapped[datetime]
    status: Mapped[str] = enum_column(DrawStatus.OPEN)
    # At the draw: the sorted user ids of the qualified entrants, and the winners in pick order.
    entrants: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    winners: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    drawn_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_column()

    def public(self, *, entries: int | None = None) -> dict[str, Any]:
        drawn = self.status == DrawStatus.DRAWN.value
        return {
            "id": self.id, "room_id": self.room_id, "host_id": self.host_id,
            "prize": self.prize, "winner_count": self.winner_count, "rule": self.rule,
            "keyword": self.keyword, "seed_hash": self.seed_hash,
            "seed": self.seed.hex() if drawn else None,
            "closes_at_ms": to_epoch_ms(self.closes_at), "status": self.status,
            "entrants": list(self.entrants) if self.entrants is not None else None,
            "winners": list(self.winners) if self.winners is not None else None,
            "entries": entries if entries is not None else (
                len(self.entrants) if self.entrants is not None else None),
        }


class DrawEntry(Base):
    """A viewer who qualified: joined (in_room; still present at the close to count), sent
    the keyword (keyword), or followed the host at the close (follows: written by the draw).
    One row per viewer per draw."""

    __tablename__ = "draw_entries"
    __table_args__ = (
        UniqueConstraint("draw_id", "user_id", name="uq_draw_entries_draw_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[int] = references("draws.id", ondelete="CASCADE")
    user_id: Mapped[int] = references("users.id")
    entered_at: Mapped[datetime] = now_column()
