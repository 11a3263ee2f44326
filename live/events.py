"""The domain events the live package records; handlers run after the commit
(`workers/handlers.py`; the table in docs/architecture.md).

Every change the room must hear of is one of these, recorded in the action's transaction:
the room is told by a handler once the change has committed, never from inside the
transaction and never of a change that was rolled back."""

from __future__ import annotations

from core.events import DomainEvent, domain_event


@domain_event
class RoomUpdated(DomainEvent):
    """The host changed the room's title, schedule, playback address or slow mode."""

    room_id: int


@domain_event
class RoomWentLive(DomainEvent):
    """The room went live: the host's button, or the encoder's first publish
    (live.actions.move_room). The room hears of it; its host's followers and the viewers who
    asked to be reminded are due a go-live alert."""

    room_id: int
    host_id: int


@domain_event
class RoomEnded(DomainEvent):
    """The room ended: the host's button, or its video stream stayed gone past the grace
    period (live.streams.end_rooms_without_stream). Its broadcast report is due.

    Not to be confused with `live.errors.RoomEnded`, the refusal of a change to an ended room.
    """

    room_id: int


@domain_event
class LineupChanged(DomainEvent):
    """The room's lineup changed: its products or their order, or a product in it (its
    price, its stock)."""

    room_id: int


@domain_event
class ProductStockSet(DomainEvent):
    """The host set the stock of a product without options (created with it, or changed).
    The stock is the product's default variant's, which `orders` keeps: handled *inside* the
    recording transaction (`EventBus.run_in_transaction`), refused there for a product with
    sizes or colours or below the units its orders hold (docs/decisions/0021)."""

    product_id: int
    host_id: int
    stock: int


@domain_event
class SaleUnitsWanted(DomainEvent):
    """A flash sale (or any offer that sets units apart) is taking `units` of a lineup product:
    out of the named variant's pool, else the product's default variant's. Handled *inside*
    the recording transaction, which it fails if the units are not there; the handler answers
    where they came from (`variant_id`) and what that pool has left (`stock_left`)."""

    product_id: int
    host_id: int
    units: int
    variant_id: int | None = None


@domain_event
class ProductPinned(DomainEvent):
    """A product of the lineup is pinned (in place of `replaced`, if one was)."""

    room_id: int
    product_id: int
    replaced: int | None


@domain_event
class ProductUnpinned(DomainEvent):
    """The pinned product is unpinned: by the host, or because it left the lineup."""

    room_id: int
    product_id: int


@domain_event
class UserMuted(DomainEvent):
    """A user may not chat in the room until `until_epoch_s` (None: until unmuted)."""

    room_id: int
    user_id: int
    until_epoch_s: int | None
    muted_by: int


@domain_event
class UserUnmuted(DomainEvent):
    room_id: int
    user_id: int
    unmuted_by: int


@domain_event
class ChatMessageDeleted(DomainEvent):
    room_id: int
    message_id: str
    deleted_by: int


@domain_event
class ShortVideoUploaded(DomainEvent):
    """A host's short video is on disk and recorded: its transcode is due
    (live.videos.save_upload)."""

    video_id: int
