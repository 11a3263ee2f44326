"""The analytics HTTP API: product tracking, broadcast lists, reports, live numbers, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from analytics.models import AnalyticsEvent
from analytics.recorder import VIEWER_COOKIE
from core.context import Services
from tests.analytics.conftest import Broadcast
from tests.conftest import MakeUser
from web.api_analytics import recorder_of

Factory = Callable[..., Awaitable[dict[str, Any]]]
ORIGIN = {"Origin": "http://127.0.0.1:8000"}


async def _events(services: Services, app: Any) -> list[AnalyticsEvent]:
    await (await recorder_of(app)).flush()
    async with services.db.session() as session:
        return list(await session.scalars(select(AnalyticsEvent).order_by(AnalyticsEvent.id)))


def _csv(response: httpx.Response) -> list[list[str]]:
    # Every export starts with a UTF-8 byte-order mark, so Excel reads Chinese right.
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_a_guest_click_is_recorded_under_a_cookie_it_is_given(
        client: httpx.AsyncClient, app: Any, services: Services, make_user: MakeUser,
        make_product: Factory, make_room: Factory) -> None:
    # given a live room with a product
    host = await make_user("host")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)

    # when a guest clicks the product card twice
    first = await client.post(f"/api/rooms/{room['id']}/track",
                              json={"event": "product_click", "product_id": product["id"]})
    cookie = first.cookies.get(VIEWER_COOKIE)
    second = await client.post(f"/api/rooms/{room['id']}/track", headers=ORIGIN,
                               json={"event": "product_view", "product_id": product["id"]})

    # then both are recorded under one guest key, and the cookie was set once
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    assert cookie
    assert VIEWER_COOKIE not in second.cookies
    events = await _events(services, app)
    assert [(e.kind, e.viewer_key, e.product_id) for e in events] == [
        ("product_click", f"g:{cookie}", product["id"]),
        ("product_view", f"g:{cookie}", product["id"])]


async def test_a_logged_in_viewer_is_keyed_by_user(
        client: httpx.AsyncClient, app: Any, services: Services, make_user: MakeUser,
        make_product: Factory, make_room: Factory) -> None:
    host = await make_user("host")
    viewer = await make_user("viewer")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)

    response = await client.post(f"/api/rooms/{room['id']}/track", headers=viewer.headers,
                                 json={"event": "product_click", "product_id": product["id"]})

    assert response.status_code == 202
    assert VIEWER_COOKIE not in response.cookies
    events = await _events(services, app)
    assert [(e.viewer_key, e.user_id) for e in events] == [(f"u:{viewer.id}", viewer.id)]


async def test_bad_track_input_names_the_field(
        client: httpx.AsyncClient, make_user: MakeUser, make_product: Factory,
        make_room: Factory) -> None:
    host = await make_user("host")
    product = await make_product(host)
    other = await make_product(host, title="Not in the lineup")
    room = await make_room(host, products=[product], live=True)
    url = f"/api/rooms/{room['id']}/track"

    cases = [
        ({"event": "product_buy", "product_id": product["id"]}, 422, "event"),
        ({"event": "product_click"}, 422, "product_id"),
        ({"event": "product_click", "product_id": "x"}, 422, "product_id"),
        ({"event": "product_click", "product_id": other["id"]}, 422, "product_id"),
        ({"event": "product_click", "product_id": product["id"], "extra": 1}, 422, "extra"),
    ]
    for body, status, field in cases:
        response = await client.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field, body

    missing = await client.post("/api/rooms/999999/track",
                                json={"event": "product_click", "product_id": product["id"]})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "room_not_found"


async def test_tracking_is_rate_limited_per_viewer(
        client: httpx.AsyncClient, make_user: MakeUser, make_product: Factory,
        make_room: Factory) -> None:
    # given a viewer on a live room
    host = await make_user("host")
    viewer = await make_user("viewer")
    other_viewer = await make_user("viewer")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)
    body = {"event": "product_view", "product_id": product["id"]}
    url = f"/api/rooms/{room['id']}/track"

    # when they send more than 30 events in the window
    statuses = [(await client.post(url, json=body, headers=viewer.headers)).status_code
                for _ in range(31)]

    # then the 31st is refused, and another viewer is not affected
    assert statuses == [202] * 30 + [429]
    refused = await client.post(url, json=body, headers=viewer.headers)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert (await client.post(url, json=body, headers=other_viewer.headers)).status_code == 202

    # and a client that keeps no cookie is limited by its address
    anonymous = []
    for _ in range(31):
        client.cookies.clear()
        anonymous.append((await client.post(url, json=body)).status_code)
    assert anonymous == [202] * 30 + [429]


async def test_a_cross_site_track_with_cookies_is_refused(
        client: httpx.AsyncClient, make_user: MakeUser, make_product: Factory,
        make_room: Factory) -> None:
    host = await make_user("host")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)

    response = await client.post(f"/api/rooms/{room['id']}/track",
                                 json={"event": "product_click", "product_id": product["id"]},
                                 headers={"Origin": "https://evil.example",
                                          "Cookie": f"{VIEWER_COOKIE}=abcdefghijkl"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_origin"


async def test_reports_are_for_the_host_and_ops_only(
        client: httpx.AsyncClient, broadcast: Broadcast, make_user: MakeUser) -> None:
    other_host = await make_user("host")
    viewer = await make_user("viewer")
    url = f"/api/ops/broadcasts/{broadcast.room_id}/report"

    own = await client.get(url, headers=broadcast.host.headers)
    ops = await client.get(url, headers=broadcast.ops.headers)
    foreign = await client.get(url, headers=other_host.headers)
    as_viewer = await client.get(url, headers=viewer.headers)
    anonymous = await client.get(url)

    assert own.status_code == ops.status_code == 200
    assert own.json()["summary"]["gmv_minor"] == 21200
    assert own.json() == ops.json()
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "not_your_broadcast"
    assert as_viewer.status_code == 403
    assert anonymous.status_code == 401
    for path in ("orders.csv", "report.csv", "live"):
        response = await client.get(f"/api/ops/broadcasts/{broadcast.room_id}/{path}",
                                    headers=other_host.headers)
        assert response.status_code == 403, path
        assert "error" in response.json()


async def test_the_broadcast_list_filters_by_host_and_day(
        client: httpx.AsyncClient, broadcast: Broadcast, make_user: MakeUser) -> None:
    other_host = await make_user("host")
    ops = broadcast.ops.headers

    everything = (await client.get("/api/ops/broadcasts", headers=ops)).json()["broadcasts"]
    that_day = (await client.get("/api/ops/broadcasts?since=2026-11-20&until=2026-11-20",
                                 headers=ops)).json()["broadcasts"]
    next_day = (await client.get("/api/ops/broadcasts?since=2026-11-21",
                                 headers=ops)).json()["broadcasts"]
    by_other = (await client.get(f"/api/ops/broadcasts?host_id={other_host.id}",
                                 headers=ops)).json()["broadcasts"]
    # a host asking for another host's broadcasts still gets only their own (none)
    host_view = (await client.get(f"/api/ops/broadcasts?host_id={broadcast.host.id}",
                                  headers=other_host.headers)).json()["broadcasts"]
    bad = await client.get("/api/ops/broadcasts?since=20-11-2026", headers=ops)

    assert [b["room_id"] for b in everything] == [broadcast.room_id]
    assert [b["room_id"] for b in that_day] == [broadcast.room_id]
    assert next_day == by_other == host_view == []
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "since"


async def test_the_orders_csv_lists_every_order(
        client: httpx.AsyncClient, broadcast: Broadcast) -> None:
    response = await client.get(f"/api/ops/broadcasts/{broadcast.room_id}/orders.csv",
                                headers=broadcast.host.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = _csv(response)
    assert rows[0] == ["order_id", "created_at", "status", "product_id", "product_title",
                       "quantity", "amount_minor", "currency", "buyer_id", "buyer_name",
                       "paid_at", "refunded_at", "sale_id"]
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["order_id"] for r in body] == [str(broadcast.orders[n]) for n in
                                             ("O1", "O2", "O3", "O4", "O5", "O6")]
    assert [(r["status"], r["amount_minor"], r["currency"]) for r in body] == [
        ("completed", "4900", "USD"), ("refunded", "9800", "USD"), ("paid", "6500", "USD"),
        ("expired", "2400", "USD"), ("cancelled", "6500", "USD"), ("paid", "3000", "EUR")]
    o2 = body[1]
    assert (o2["product_title"], o2["quantity"], o2["buyer_name"], o2["paid_at"],
            o2["refunded_at"]) == ("Silk scarf", "2", "Ann", "2026-11-20T20:03:40Z",
                                   "2026-11-20T20:12:15Z")
    assert body[3]["paid_at"] == ""


async def test_the_report_csv_has_the_summary_products_and_timeline(
        client: httpx.AsyncClient, broadcast: Broadcast) -> None:
    base = f"/api/ops/broadcasts/{broadcast.room_id}/report.csv"
    headers = broadcast.ops.headers

    summary = _csv(await client.get(base, headers=headers))
    products = _csv(await client.get(base + "?table=products", headers=headers))
    timeline = _csv(await client.get(base + "?table=timeline", headers=headers))
    bad = await client.get(base + "?table=nope", headers=headers)

    assert summary[0] == ["metric", "value"]
    metrics = dict((name, value) for name, value in summary[1:])
    assert metrics["gmv_minor"] == "21200"
    assert metrics["net_gmv_minor"] == "11400"
    assert metrics["peak_viewers"] == "3"
    assert metrics["avg_watch_seconds"] == "234"
    assert metrics["funnel_paid"] == "2"
    assert metrics["funnel_clicked_rate"] == "0.8"
    assert metrics["EUR_gmv_minor"] == "3000"
    assert products[0][:2] == ["product_id", "title"]
    assert [row[1] for row in products[1:]] == ["Silk scarf", "Pour-over set", "Linen tote"]
    assert len(timeline) == 1 + 13
    assert timeline[1][:2] == ["2026-11-20T20:00:00Z", "2"]
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "table"


async def test_live_numbers_of_a_room_on_air(
        client: httpx.AsyncClient, app: Any, make_user: MakeUser, make_product: Factory,
        make_room: Factory) -> None:
    # given a live room with two viewers, one of whom left, and the host watching
    host = await make_user("host")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)
    recorder = await recorder_of(app)
    recorder.viewer_joined(room["id"], "u:1001")
    recorder.viewer_joined(room["id"], "g:guest-cookie-1")
    recorder.viewer_left(room["id"], "g:guest-cookie-1")
    recorder.viewer_joined(room["id"], f"u:{host.id}", host.id)
    recorder.chat(room["id"], 1001)
    await recorder.flush()

    # when the host reads the live numbers
    response = await client.get(f"/api/ops/broadcasts/{room['id']}/live", headers=host.headers)

    # then viewers now leaves out the host and the one who left
    assert response.status_code == 200, response.text
    numbers = response.json()
    assert (numbers["viewers_now"], numbers["unique_viewers"], numbers["chat_messages"]) == (
        1, 2, 1)
    assert (numbers["orders"], numbers["gmv_minor"], numbers["top_products"]) == (0, 0, [])


async def test_an_ended_room_without_a_report_gets_one_on_first_read(
        client: httpx.AsyncClient, broadcast: Broadcast) -> None:
    # when the report is read before any worker built it, it is built then
    response = await client.get(f"/api/ops/broadcasts/{broadcast.room_id}/report",
                                headers=broadcast.ops.headers)
    listed = (await client.get("/api/ops/broadcasts", headers=broadcast.ops.headers)).json()

    assert response.status_code == 200
    assert listed["broadcasts"][0]["report"]["gmv_minor"] == 21200


async def test_the_room_page_helper_gives_a_guest_one_viewer_cookie(settings: Any) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from web.api_analytics import connection_viewer_key, ensure_viewer_cookie

    async def page(request: Request) -> Response:
        response = PlainTextResponse(connection_viewer_key(request, None))
        ensure_viewer_cookie(request, response)
        return response

    mini = Starlette(routes=[Route("/", page)])
    mini.state.settings = settings
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mini),
                                 base_url="http://127.0.0.1:8000") as http:
        first = await http.get("/")
        cookie = first.cookies[VIEWER_COOKIE]
        second = await http.get("/", headers={"Cookie": f"{VIEWER_COOKIE}={cookie}"})

    assert first.text.startswith("c:")
    assert second.text == f"g:{cookie}"
    assert VIEWER_COOKIE not in second.cookies
