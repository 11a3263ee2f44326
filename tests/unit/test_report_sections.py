"""The broadcast report's arithmetic, section by section, on hand-made facts (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.metrics import (
    LogEntry,
    OrderFacts,
    ProductFacts,
    Recorded,
    RoomFacts,
    audience,
    compute_report,
    div_half_up,
    engagement,
    funnel_section,
    main_currency,
    pin_spans,
    rate,
    report_window,
)
from live.models import RoomEventType

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


def at(seconds: int) -> int:
    return int((START + timedelta(seconds=seconds)).timestamp() * 1000)


def room(*, ended_after: int | None = 600, started: bool = True) -> RoomFacts:
    return RoomFacts(id=1, title="Drop", host_id=9, host_name="Host", status="ended",
                     created_at=START - timedelta(minutes=5),
                     started_at=START if started else None,
                     ended_at=START + timedelta(seconds=ended_after) if ended_after else None)


def joined(key: str, seconds: int) -> Recorded:
    return Recorded("viewer_joined", at(seconds), viewer_key=key)


def left(key: str, seconds: int) -> Recorded:
    return Recorded("viewer_left", at(seconds), viewer_key=key)


def order(order_id: int, user_id: int, amount: int, *, paid: bool = True, refunded: bool = False,
          currency: str = "USD", product_id: int = 1) -> OrderFacts:
    return OrderFacts(id=order_id, product_id=product_id, user_id=user_id, quantity=1,
                      amount_minor=amount, currency=currency,
                      status="refunded" if refunded else "paid" if paid else "expired",
                      created_at=START + timedelta(seconds=60),
                      paid_at=START + timedelta(seconds=90) if paid else None,
                      refunded_at=START + timedelta(seconds=120) if refunded else None)


def test_money_rounds_half_up_and_rates_have_four_decimals() -> None:
    assert div_half_up(5, 2) == 3 and div_half_up(21200, 3) == 7067 and div_half_up(4, 2) == 2
    assert rate(1, 3) == 0.3333 and rate(0, 5) == 0.0 and rate(3, 0) is None


def test_two_tabs_make_one_visit_and_the_host_is_not_audience() -> None:
    window = report_window(room(), START, frozenset())
    events = [joined("u:1", 0), joined("u:1", 30), left("u:1", 60), left("u:1", 120),
              joined("u:9", 0), left("u:9", 600),  # the host
              joined("g:x", -60), left("g:x", 90)]  # arrived before the start: clipped
    seen = audience(events, window)
    assert sorted((v.viewer_key, v.start, v.end) for v in seen.visits) == [
        ("g:x", at(0), at(90)), ("u:1", at(0), at(120))]
    assert seen.total_watch_ms == 210_000 and seen.peak == 2 and seen.peak_at == at(0)


def test_a_leave_and_a_join_at_the_same_instant_are_never_two_at_once() -> None:
    window = report_window(room(), START, frozenset())
    seen = audience([joined("u:1", 0), left("u:1", 60), joined("u:2", 60), left("u:2", 90)],
                    window)
    assert seen.peak == 1


def test_a_visit_still_open_closes_at_the_window_end() -> None:
    window = report_window(room(ended_after=300), START, frozenset())
    seen = audience([joined("u:1", 200)], window)
    assert [(v.start, v.end) for v in seen.visits] == [(at(200), at(300))]


def test_the_funnel_counts_people_not_events() -> None:
    window = report_window(room(), START, frozenset())
    events = [joined("u:1", 0), joined("u:2", 0), joined("u:3", 0),
              Recorded("product_click", at(10), viewer_key="u:1", product_id=1, count=3),
              Recorded("product_click", at(11), viewer_key="u:2", product_id=1)]
    seen = audience(events, window)
    engaged = engagement(events, window.excluded)
    funnel = funnel_section(seen, engaged, [order(1, 1, 500), order(2, 1, 500, paid=False)])
    assert funnel == [{"step": "entered", "count": 3, "rate": None},
                      {"step": "clicked", "count": 2, "rate": 0.6667},
                      {"step": "ordered", "count": 1, "rate": 0.5},
                      {"step": "paid", "count": 1, "rate": 1.0}]
    assert engaged.product_clicks == 4


def test_the_main_currency_is_the_one_with_the_most_paid_gmv() -> None:
    products = {1: ProductFacts(1, "Mug", "EUR", 100)}
    assert main_currency([order(1, 1, 100, currency="EUR"), order(2, 2, 300, currency="USD")],
                         products) == "USD"
    assert main_currency([order(1, 1, 100, paid=False, currency="EUR")], products) == "EUR"
    assert main_currency([], products) == "EUR"
    assert main_currency([], {}) is None


def test_setting_a_lineup_without_the_pinned_product_ends_its_pin() -> None:
    log = [LogEntry(RoomEventType.PIN, START, {"product_id": 1}),
           LogEntry(RoomEventType.LINEUP_SET, START + timedelta(seconds=30), {"product_ids": [1, 2]}),
           LogEntry(RoomEventType.LINEUP_SET, START + timedelta(seconds=50), {"product_ids": [2]}),
           LogEntry(RoomEventType.PIN, START + timedelta(seconds=70), {"product_id": 2})]
    assert pin_spans(log, at(100)) == [{"product_id": 1, "from_ms": at(0), "to_ms": at(50)},
                                       {"product_id": 2, "from_ms": at(70), "to_ms": at(100)}]


def test_refunds_stay_in_gmv_and_leave_net_gmv_and_other_currencies_apart() -> None:
    events = [joined("u:1", 0), left("u:1", 600), joined("u:2", 0), left("u:2", 300)]
    orders = [order(1, 1, 4900), order(2, 2, 9800, refunded=True), order(3, 1, 100,
                                                                          currency="EUR")]
    report = compute_report(room(), events, [], orders, {1: ProductFacts(1, "Mug", "USD", 4900)},
                            as_of=START)
    summary = report["summary"]
    assert (summary["gmv_minor"], summary["net_gmv_minor"], summary["refunded_minor"]) == (
        14700, 4900, 9800)
    assert summary["aov_minor"] == 7350 and summary["uv_value_minor"] == 7350
    assert summary["gpm_minor"] == 7_350_000 and summary["avg_watch_seconds"] == 450
    assert report["other_currencies"] == [{"currency": "EUR", "orders": 1, "paid_orders": 1,
                                           "gmv_minor": 100, "net_gmv_minor": 100, "buyers": 1}]
    assert len(report["timeline"]) == 10


def test_the_report_is_the_same_for_the_same_facts() -> None:
    events = [joined("u:1", 0), left("u:1", 600)]
    first = compute_report(room(), events, [], [order(1, 1, 500)], {}, as_of=START)
    again = compute_report(room(), events, [], [order(1, 1, 500)], {}, as_of=START)
    assert first == again


def test_a_room_that_never_went_live_has_a_report_of_no_duration() -> None:
    # given a room created, never taken live, and ended 97 minutes later
    never = RoomFacts(id=1, title="Drop", host_id=9, host_name="Host", status="ended",
                      created_at=START, started_at=None,
                      ended_at=START + timedelta(minutes=97))

    # when its report window is taken
    window = report_window(never, START + timedelta(hours=2), frozenset())

    # then it lasts nothing: the time it sat unaired is not a show's duration
    assert window.duration_ms == 0
