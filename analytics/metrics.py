"""The broadcast report as a pure function of what was recorded.

`compute_report` takes plain facts (the room, its recorded events, its event log, its orders and
products) and returns the report as a JSON-ready dict. It reads no clock and no database, so
the same facts give the same report byte for byte. Every formula is in docs/metrics.md; the
names here match the names there.

Times are whole epoch milliseconds inside, so that all sums are exact integers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analytics.models import EventKind
from live.models import RoomEventType

MINUTE_MS = 60_000

# Recorded kinds counted in the timeline, and the column they count in.
TIMELINE_FIELDS = {EventKind.CHAT.value: "chat", EventKind.LIKES.value: "likes",
                   EventKind.PRODUCT_CLICK.value: "clicks"}

# Order statuses that mean the buyer paid at some point (a refund keeps it in GMV).
PAID_STATUSES = frozenset({"paid", "completed", "refunded"})


@dataclass(frozen=True, slots=True)
class RoomFacts:
    id: int
    title: str
    host_id: int
    host_name: str
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded event; `at_ms` is its time in epoch milliseconds (read as such from the
    database: a big room has hundreds of thousands of these)."""

    kind: str
    at_ms: int
    viewer_key: str | None = None
    user_id: int | None = None
    product_id: int | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One row of the room event log."""

    type: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def distinct(orders: list[OrderFacts]) -> int:
    """How many orders: a regular-price order of several lines is one fact per line (each
    with its product, units and amount), all with the order's id."""
    return len({o.id for o in orders})


@dataclass(frozen=True, slots=True)
class OrderFacts:
    id: int
    product_id: int
    user_id: int
    quantity: int
    amount_minor: int
    currency: str
    status: str
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProductFacts:
    id: int
    title: str
    currency: str
    price_minor: int


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def div_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounded half up (non-negative operands): 5/2 -> 3, money stays whole."""
    return (2 * numerator + denominator) // (2 * denominator)


def split_paid(paid_minor: int, line_amounts: list[int]) -> list[int]:
    """What was paid for an order, shared among its lines in proportion to their amounts (a
    coupon comes off every line alike), in whole minor units that add up to exactly what was
    paid: each line its share rounded down, the units left over to the largest remainders."""
    whole = sum(line_amounts)
    if whole == paid_minor or not line_amounts:
        return list(line_amounts)
    if whole == 0:
        return [paid_minor] + [0] * (len(line_amounts) - 1)
    shares = [paid_minor * amount // whole for amount in line_amounts]
    by_remainder = sorted(range(len(line_amounts)),
                          key=lambda i: (-(paid_minor * line_amounts[i] % whole), i))
    for i in by_remainder[:paid_minor - sum(shares)]:
        shares[i] += 1
    return shares


def rate(part: int, whole: int) -> float | None:
    """A share as a fraction with 4 decimals; None when there is nothing to divide by."""
    if whole <= 0:
        return None
    return round(part / whole, 4)


def main_currency(orders: list[OrderFacts], products: dict[int, ProductFacts]) -> str | None:
    """The currency with the most paid GMV (ties: alphabetical); without paid orders, the most
    common currency of the orders, then of the products."""
    paid: dict[str, int] = defaultdict(int)
    for order in orders:
        if order.paid_at is not None:
            paid[order.currency] += order.amount_minor
    if paid:
        return sorted(paid.items(), key=lambda item: (-item[1], item[0]))[0][0]
    seen: dict[str, int] = defaultdict(int)
    for order in orders:
        seen[order.currency] += 1
    if not seen:
        for product in products.values():
            seen[product.currency] += 1
    if not seen:
        return None
    return sorted(seen.items(), key=lambda item: (-item[1], item[0]))[0][0]


@dataclass
class _Visit:
    viewer_key: str
    start: int
    end: int


def viewer_visits(events: list[Recorded], window_start: int, window_end: int,
                  excluded_keys: frozenset[str]) -> list[_Visit]:
    """Visits: the spans during which a viewer had at least one connection open, clipped to the
    broadcast window. Joins and leaves are counted per viewer, so two tabs make one visit; a
    leave without a join is ignored; a visit still open at the end closes at the window end
    (that is how a viewer of a crashed hub process is closed)."""
    open_count: dict[str, int] = defaultdict(int)
    opened_at: dict[str, int] = {}
    visits: list[_Visit] = []

    def close(key: str, at: int) -> None:
        start = max(opened_at.pop(key), window_start)
        end = min(at, window_end)
        if end > start:
            visits.append(_Visit(key, start, end))

    for event in events:
        key = event.viewer_key
        if key is None or key in excluded_keys:
            continue
        if event.kind == EventKind.VIEWER_JOINED:
            open_count[key] += 1
            if open_count[key] == 1:
                opened_at[key] = event.at_ms
        elif event.kind == EventKind.VIEWER_LEFT and open_count[key] > 0:
            open_count[key] -= 1
            if open_count[key] == 0:
                close(key, event.at_ms)
    for key in sorted(opened_at):
        close(key, window_end)
    visits.sort(key=lambda v: (v.start, v.viewer_key))
    return visits


def concurrency_changes(visits: list[_Visit]) -> list[tuple[int, int]]:
    """(time, +1/-1) sorted so that at one instant leaves come before joins: a viewer leaving
    as another arrives is never counted as two at once."""
    changes = [(v.start, 1) for v in visits] + [(v.end, -1) for v in visits]
    changes.sort()
    return changes


def pin_spans(log: list[LogEntry], window_end: int) -> list[dict[str, Any]]:
    """Which product was pinned when, from the room event log."""
    spans: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None

    def close(at: int) -> None:
        nonlocal current
        if current is not None:
            current["to_ms"] = at
            spans.append(current)
            current = None

    for entry in log:
        at = ms(entry.at)
        if entry.type == RoomEventType.PIN:
            close(at)
            current = {"product_id": int(entry.data["product_id"]), "from_ms": at}
        elif entry.type in (RoomEventType.UNPIN, RoomEventType.ROOM_ENDED):
            close(at)
        elif entry.type == RoomEventType.LINEUP_SET and current is not None and \
                current["product_id"] not in entry.data.get("product_ids", []):
            # Setting a lineup without the pinned product unpins it without an `unpin` entry.
            close(at)
    close(max(window_end, current["from_ms"]) if current is not None else window_end)
    return spans


@dataclass(frozen=True, slots=True)
class Window:
    """The broadcast window in epoch ms, and who is not counted as audience (the host, staff)."""

    start: int
    end: int
    excluded: frozenset[str]

    @property
    def duration_ms(self) -> int:
        return self.end - self.start


def report_window(room: RoomFacts, as_of: datetime, staff_keys: frozenset[str]) -> Window:
    """From going live to the end (or now). A room that never went live has an empty window
    at its creation: the time between creating and ending it is not a show's duration."""
    excluded = frozenset({f"u:{room.host_id}"}) | staff_keys
    if room.started_at is None:
        start = ms(room.created_at)
        return Window(start, start, excluded)
    start = ms(room.started_at)
    return Window(start, max(ms(room.ended_at or as_of), start), excluded)


@dataclass(frozen=True, slots=True)
class Audience:
    visits: list[_Visit]
    viewer_keys: frozenset[str]
    total_watch_ms: int
    changes: list[tuple[int, int]]
    peak: int
    peak_at: int | None


def audience(events: list[Recorded], window: Window) -> Audience:
    """Visits, unique viewers, watch time and the peak of viewers present at once."""
    visits = viewer_visits(events, window.start, window.end, window.excluded)
    changes = concurrency_changes(visits)
    level = peak = 0
    peak_at = None
    for at, delta in changes:
        level += delta
        if level > peak:
            peak, peak_at = level, at
    return Audience(visits, frozenset(v.viewer_key for v in visits),
                    sum(v.end - v.start for v in visits), changes, peak, peak_at)


@dataclass
class Engagement:
    chat_messages: int = 0
    likes: int = 0
    product_views: int = 0
    product_clicks: int = 0
    chatters: set[str] = field(default_factory=set)
    clickers: set[str] = field(default_factory=set)
    per_product_views: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_product_clicks: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_product_clickers: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))


def engagement(events: list[Recorded], excluded: frozenset[str]) -> Engagement:
    """Chat, likes, product views and clicks by the audience (the host and staff left out)."""
    totals = Engagement()
    for event in events:
        if event.viewer_key in excluded:
            continue
        if event.kind == EventKind.CHAT:
            totals.chat_messages += event.count
            if event.viewer_key:
                totals.chatters.add(event.viewer_key)
        elif event.kind == EventKind.LIKES:
            totals.likes += event.count
        elif event.kind == EventKind.PRODUCT_VIEW and event.product_id is not None:
            totals.product_views += event.count
            totals.per_product_views[event.product_id] += event.count
        elif event.kind == EventKind.PRODUCT_CLICK and event.product_id is not None:
            totals.product_clicks += event.count
            totals.per_product_clicks[event.product_id] += event.count
            if event.viewer_key:
                totals.clickers.add(event.viewer_key)
                totals.per_product_clickers[event.product_id].add(event.viewer_key)
    return totals


def summary_section(window: Window, seen: Audience, engaged: Engagement, currency: str | None,
                    counted: list[OrderFacts]) -> dict[str, Any]:
    """The headline figures (docs/metrics.md, "Summary"), in the report's main currency."""
    paid = [o for o in counted if o.paid_at is not None]
    refunded = [o for o in paid if o.refunded_at is not None]
    gmv = sum(o.amount_minor for o in paid)
    refunded_minor = sum(o.amount_minor for o in refunded)
    buyers = {o.user_id for o in paid}
    unique_viewers = len(seen.viewer_keys)
    views = len(seen.visits)
    duration_ms = window.duration_ms
    interacting = (engaged.chatters | engaged.clickers) & seen.viewer_keys
    return {
        "currency": currency,
        "gmv_minor": gmv,
        "net_gmv_minor": gmv - refunded_minor,
        "refunded_minor": refunded_minor,
        "refunded_orders": distinct(refunded),
        "orders": distinct(counted),
        "paid_orders": distinct(paid),
        "units_sold": sum(o.quantity for o in paid),
        "buyers": len(buyers),
        "aov_minor": div_half_up(gmv, distinct(paid)) if paid else 0,
        "gpm_minor": div_half_up(gmv * 1000, views) if views else 0,
        "uv_value_minor": div_half_up(gmv, unique_viewers) if unique_viewers else 0,
        "duration_seconds": duration_ms // 1000,
        "views": views,
        "unique_viewers": unique_viewers,
        "peak_viewers": seen.peak,
        "peak_at": iso(seen.peak_at) if seen.peak_at is not None else None,
        "avg_concurrent_viewers": round(seen.total_watch_ms / duration_ms, 2)
        if duration_ms else 0.0,
        "total_watch_seconds": seen.total_watch_ms // 1000,
        "avg_watch_seconds": div_half_up(seen.total_watch_ms, 1000 * unique_viewers)
        if unique_viewers else 0,
        "chat_messages": engaged.chat_messages,
        "chatters": len(engaged.chatters),
        "likes": engaged.likes,
        "product_views": engaged.product_views,
        "product_clicks": engaged.product_clicks,
        "clickers": len(engaged.clickers),
        "interacting_viewers": len(interacting),
        "interaction_rate": rate(len(interacting), unique_viewers),
        "conversion_rate": rate(len(buyers), unique_viewers),
    }


def funnel_section(seen: Audience, engaged: Engagement,
                   counted: list[OrderFacts]) -> list[dict[str, Any]]:
    """entered -> clicked a product -> ordered -> paid, each step's rate against the last."""
    buyers = {o.user_id for o in counted if o.paid_at is not None}
    steps = [("entered", len(seen.viewer_keys)), ("clicked", len(engaged.clickers)),
             ("ordered", len({o.user_id for o in counted})), ("paid", len(buyers))]
    return [{"step": name, "count": count,
             "rate": None if index == 0 else rate(count, steps[index - 1][1])}
            for index, (name, count) in enumerate(steps)]


def pins_section(spans: list[dict[str, Any]],
                 products: dict[int, ProductFacts]) -> list[dict[str, Any]]:
    return [{"product_id": s["product_id"],
             "title": products[s["product_id"]].title if s["product_id"] in products else "",
             "from": iso(s["from_ms"]), "to": iso(s["to_ms"]),
             "seconds": (s["to_ms"] - s["from_ms"]) // 1000} for s in spans]


def products_section(products: dict[int, ProductFacts], engaged: Engagement,
                     counted: list[OrderFacts],
                     spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per product that was in the lineup, seen, clicked, ordered or pinned; best
    sellers first."""
    product_ids = (set(products) | set(engaged.per_product_clicks)
                   | set(engaged.per_product_views) | {o.product_id for o in counted}
                   | {s["product_id"] for s in spans})
    rows = []
    for product_id in product_ids:
        mine = [o for o in counted if o.product_id == product_id]
        mine_paid = [o for o in mine if o.paid_at is not None]
        mine_refunded_minor = sum(o.amount_minor for o in mine_paid if o.refunded_at is not None)
        product_gmv = sum(o.amount_minor for o in mine_paid)
        product_buyers = {o.user_id for o in mine_paid}
        product_clickers = engaged.per_product_clickers.get(product_id, set())
        facts = products.get(product_id)
        rows.append({
            "product_id": product_id,
            "title": facts.title if facts else f"product {product_id}",
            "views": engaged.per_product_views.get(product_id, 0),
            "clicks": engaged.per_product_clicks.get(product_id, 0),
            "clickers": len(product_clickers),
            "orders": distinct(mine),
            "paid_orders": distinct(mine_paid),
            "units_sold": sum(o.quantity for o in mine_paid),
            "buyers": len(product_buyers),
            "gmv_minor": product_gmv,
            "refunded_minor": mine_refunded_minor,
            "net_gmv_minor": product_gmv - mine_refunded_minor,
            "click_to_buy_rate": rate(len(product_buyers), len(product_clickers)),
            "pins": sum(1 for s in spans if s["product_id"] == product_id),
            "pinned_seconds": sum((s["to_ms"] - s["from_ms"]) // 1000 for s in spans
                                  if s["product_id"] == product_id),
        })
    rows.sort(key=lambda r: (-r["gmv_minor"], -r["paid_orders"], -r["clicks"], r["product_id"]))
    return rows


def other_currencies_section(orders: list[OrderFacts],
                             currency: str | None) -> list[dict[str, Any]]:
    """Orders in currencies other than the main one, each reported apart (never summed)."""
    other = []
    for other_currency in sorted({o.currency for o in orders} - {currency}):
        theirs = [o for o in orders if o.currency == other_currency]
        theirs_paid = [o for o in theirs if o.paid_at is not None]
        theirs_gmv = sum(o.amount_minor for o in theirs_paid)
        theirs_refunded = sum(o.amount_minor for o in theirs_paid if o.refunded_at is not None)
        other.append({"currency": other_currency, "orders": distinct(theirs),
                      "paid_orders": distinct(theirs_paid), "gmv_minor": theirs_gmv,
                      "net_gmv_minor": theirs_gmv - theirs_refunded,
                      "buyers": len({o.user_id for o in theirs_paid})})
    return other


def compute_report(room: RoomFacts, events: list[Recorded], log: list[LogEntry],
                   orders: list[OrderFacts], products: dict[int, ProductFacts],
                   *, as_of: datetime, staff_keys: frozenset[str] = frozenset()
                   ) -> dict[str, Any]:
    """The broadcast report. `events` and `log` in recording order; `as_of` ends the window of
    a room that has not ended yet. The host and `staff_keys` (ops watching the room) are left
    out of the audience and engagement figures."""
    window = report_window(room, as_of, staff_keys)
    seen = audience(events, window)
    engaged = engagement(events, window.excluded)
    currency = main_currency(orders, products)
    counted = [o for o in orders if o.currency == currency]
    spans = pin_spans(log, window.end)
    return {
        "room": {"id": room.id, "title": room.title, "host_id": room.host_id,
                 "host_name": room.host_name, "status": room.status,
                 "went_live": room.started_at is not None,
                 "started_at": iso(window.start),
                 "ended_at": iso(window.end) if room.ended_at else None},
        "summary": summary_section(window, seen, engaged, currency, counted),
        "funnel": funnel_section(seen, engaged, counted),
        "products": products_section(products, engaged, counted, spans),
        "pins": pins_section(spans, products),
        "timeline": _timeline(window.start, window.end, seen.changes, seen.visits, events,
                              counted, spans, window.excluded),
        "other_currencies": other_currencies_section(orders, currency),
    }


def _timeline(window_start: int, window_end: int, changes: list[tuple[int, int]],
              visits: list[_Visit], events: list[Recorded], orders: list[OrderFacts],
              spans: list[dict[str, Any]], excluded: frozenset[str]) -> list[dict[str, Any]]:
    """One row per minute from the minute the broadcast started to the minute of the last
    thing that happened (payments can land after the room ended)."""
    first_minute = window_start - window_start % MINUTE_MS
    # A window ending on the minute (20:00:00 to 20:30:00) has 30 rows, not 31.
    latest = max(window_end - 1, window_start)
    for order in orders:
        for moment in (order.created_at, order.paid_at, order.refunded_at):
            if moment is not None:
                latest = max(latest, ms(moment))
    last_minute = latest - latest % MINUTE_MS
    count = (last_minute - first_minute) // MINUTE_MS + 1
    rows = [{"minute": iso(first_minute + i * MINUTE_MS), "viewers": 0, "new_viewers": 0,
             "orders": 0, "paid_orders": 0, "gmv_minor": 0, "refunded_minor": 0, "chat": 0,
             "likes": 0, "clicks": 0, "pins": []} for i in range(count)]

    def bucket(at: int) -> dict[str, Any] | None:
        index = (max(at, first_minute) - first_minute) // MINUTE_MS
        return rows[index] if index < count else None

    # Viewers: the most present at once at any instant of the minute.
    level = 0
    pointer = 0
    for index, row in enumerate(rows):
        start = first_minute + index * MINUTE_MS
        end = start + MINUTE_MS
        while pointer < len(changes) and changes[pointer][0] <= start:
            level += changes[pointer][1]
            pointer += 1
        best = level
        while pointer < len(changes) and changes[pointer][0] < end:
            level += changes[pointer][1]
            best = max(best, level)
            pointer += 1
        row["viewers"] = best
    for visit in visits:
        if (row_of := bucket(visit.start)) is not None:
            row_of["new_viewers"] += 1
    for event in events:
        if event.viewer_key in excluded:
            continue
        field_name = TIMELINE_FIELDS.get(event.kind)
        if field_name and (row_of := bucket(event.at_ms)) is not None:
            row_of[field_name] += event.count
    first_line: set[int] = set()
    for order in orders:
        # A regular-price order with several lines comes as one fact per line: counted once.
        once = order.id not in first_line
        first_line.add(order.id)
        if once and (row_of := bucket(ms(order.created_at))) is not None:
            row_of["orders"] += 1
        if order.paid_at is not None and (row_of := bucket(ms(order.paid_at))) is not None:
            row_of["paid_orders"] += 1 if once else 0
            row_of["gmv_minor"] += order.amount_minor
        if order.refunded_at is not None and \
                (row_of := bucket(ms(order.refunded_at))) is not None:
            row_of["refunded_minor"] += order.amount_minor
    for span in spans:
        if (row_of := bucket(span["from_ms"])) is not None:
            row_of["pins"].append(span["product_id"])
    return rows
