"""One name per event: the room log and the wire agree, and a room's status change has a
named log entry (no name built from a string at run time)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from live.models import ROOM_MOVES, STATUS_EVENTS, RoomEventType
from orders.events import SaleAction
from realtime.protocol import ServerEvent


def test_a_pin_has_the_same_name_in_the_room_log_and_on_the_wire() -> None:
    assert RoomEventType.PIN == ServerEvent.PIN == "pin"
    assert RoomEventType.UNPIN == ServerEvent.UNPIN == "unpin"


def test_every_room_move_has_a_log_entry_of_its_own() -> None:
    targets = {target for moves in ROOM_MOVES.values() for target in moves}
    assert set(STATUS_EVENTS) == targets
    assert STATUS_EVENTS[next(t for t in targets if t.value == "ended")] == \
        RoomEventType.ROOM_ENDED


# The protocol: these names are on the wire (read by every client) or stored in PostgreSQL.
# A rename is a protocol change (or a migration), never a side effect of a refactor.

def test_the_wire_names_are_the_enums_values() -> None:
    from realtime.moderation import ModerationAction
    from realtime.protocol import ClientEvent

    assert [e.value for e in ServerEvent] == [
        "hello", "resume", "batch", "error", "pong", "likes", "viewers", "snapshot_rebuilt",
        "user_resume", "chat", "moderation", "room", "on_air", "lineup", "pin", "unpin", "sale",
        "stock", "variant_stock", "order", "purchase", "notification", "rain", "draw", "chat_buy",
        "coupon", "bargain", "group", "bargain_offer"]
    assert [e.value for e in ClientEvent] == ["chat", "like", "ping"]
    assert [e.value for e in ModerationAction] == ["mute", "unmute", "delete"]
    assert [e.value for e in SaleAction] == ["started", "scheduled", "stopped", "ended"]


def test_the_logged_names_are_the_enums_values() -> None:
    from analytics.models import EVENT_KINDS, EventKind
    from orders.models import OrderEventType, SaleEventType

    assert {e.value for e in RoomEventType} >= {
        "room_created", "room_updated", "room_live", "room_ended", "lineup_set", "pin", "unpin",
        "user_muted", "user_unmuted", "chat_deleted", "stream_started", "stream_ended",
        "stream_key_rotated"}
    assert [e.value for e in SaleEventType] == [
        "sale_created", "sale_started", "sale_ended", "sale_stopped", "sale_stopped_room_ended",
        "sale_settled", "sale_reconciled", "reservations_voided"]
    assert [e.value for e in OrderEventType] == [
        "order_placed", "order_paid", "order_cancelled", "order_expired", "order_completed",
        "order_refunded", "refund_requested"]
    assert EVENT_KINDS == ("viewer_joined", "viewer_left", "chat", "likes", "product_view",
                           "product_click", "video_view", "video_watch")
    assert EventKind.CHAT == ServerEvent.CHAT  # a chat line has one name, recorded or sent


def test_the_names_spelled_outside_python_are_the_enums() -> None:
    # The batched order writer's SQL and the track endpoint's schema spell names that Python
    # code elsewhere reads through the enums.
    from analytics.models import EventKind
    from analytics.schemas import TrackIn
    from orders.models import OrderEventType
    from orders.writer import INSERT_ORDERS

    assert f"'{OrderEventType.ORDER_PLACED.value}'" in INSERT_ORDERS
    assert set(get_args(TrackIn.model_fields["event"].annotation)) == {
        EventKind.PRODUCT_VIEW, EventKind.PRODUCT_CLICK}


# Every call that writes an event type names it through its enum: a literal string there is
# the second name of a thing that already has one.
WRITERS = {"publish_room": 3, "publish_room_event": 3, "publish_user": 3, "encode": 0,
           "record_room_event": 2, "record_sale_event": 2, "record_order_event": 2}
PACKAGES = ("analytics", "core", "live", "orders", "realtime", "web", "workers")


def _literal_event_names(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        named: list[ast.expr] = [k.value for k in node.keywords if k.arg == "event_type"]
        if name in WRITERS and len(node.args) > WRITERS[name]:
            named.append(node.args[WRITERS[name]])
        found += [f"{path}:{node.lineno} {name}({arg.value!r})" for arg in named
                  if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return found


def test_no_event_is_written_under_a_literal_name() -> None:
    root = Path(__file__).resolve().parents[2]
    literal = [hit for package in PACKAGES for path in sorted((root / package).rglob("*.py"))
               for hit in _literal_event_names(path)]
    assert literal == []


def test_the_pages_store_reads_the_wire_names_of_the_enum() -> None:
    # The pages cannot import the enum: the store's switch is checked against it instead, both
    # ways (a frame the store ignores, or a name the server never sends, is a protocol drift).
    import re

    from realtime.moderation import ModerationAction

    js = Path(__file__).resolve().parents[2] / "web" / "static" / "js"
    store = (js / "store.js").read_text()
    cases = set(re.findall(r'case "([a-z_]+)":', store))
    # Handled by the socket itself (`batch` unpacked, `pong` a keep-alive) or nothing to do
    # (`snapshot_rebuilt`: a fresh hello follows where needed).
    # `user_resume` is the socket's (it keeps the user's offset); `rain` and `draw` are read by
    # the engagement modules from the store's `frame` topic, and `coupon` by the room's coupon
    # card (room-coupons.js) the same way, and `group` by the room's group buys
    # (room-groups.js).
    not_in_store = {ServerEvent.BATCH, ServerEvent.PONG, ServerEvent.SNAPSHOT_REBUILT,
                    ServerEvent.USER_RESUME, ServerEvent.RAIN, ServerEvent.DRAW,
                    ServerEvent.COUPON, ServerEvent.GROUP}
    assert cases == {e.value for e in ServerEvent} - not_in_store
    assert 'frame.type === "batch"' in (js / "socket.js").read_text()
    assert 'frame.type === "user_resume"' in (js / "socket.js").read_text()
    engagement = (js / "room-engagement.js").read_text()
    assert 'frame.type === "rain"' in engagement and 'frame.type === "draw"' in engagement
    assert 'frame.type === "coupon"' in (js / "room-coupons.js").read_text()
    assert {f'd.action === "{action.value}"' for action in ModerationAction} <= set(
        re.findall(r'd\.action === "[a-z]+"', store))
