"""Short videos' and replays' numbers: what their pages record through the track endpoint,
the per-video report (API and page) for the host and ops, and a replay as its broadcast's own
source in the broadcast report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select, update

from analytics.models import AnalyticsEvent
from core.context import Services
from orders.models import Order
from tests.conftest import MakeUser, TestUser
from tests.orders.test_order_sources import make_video
from web.api_analytics import recorder_of

Factory = Callable[..., Awaitable[dict[str, Any]]]
ORIGIN = {"Origin": "http://127.0.0.1:8000"}


async def _sale(client: httpx.AsyncClient, host: TestUser, room: dict[str, Any],
                product: dict[str, Any], price_minor: int) -> dict[str, Any]:
    response = await client.post(f"/api/rooms/{room['id']}/sales", json={
        "product_id": product["id"], "price_minor": price_minor, "quantity": 20,
        "per_user_limit": 5, "duration_seconds": 600}, headers=host.headers)
    assert response.status_code == 201, response.text
    sale: dict[str, Any] = response.json()
    return sale


async def _buy(client: httpx.AsyncClient, buyer: TestUser, sale_id: int, key: str,
               source: dict[str, Any] | None) -> int:
    body: dict[str, Any] = {"quantity": 1, **({"source": source} if source else {})}
    response = await client.post(f"/api/sales/{sale_id}/buy", json=body,
                                 headers={**buyer.headers, "Idempotency-Key": key})
    assert response.status_code == 201, response.text
    return int(response.json()["order"]["id"])


async def _set_status(services: Services, order_ids: list[int], status: str) -> None:
    # The payment flow is tested in tests/orders; here only the statuses the report reads.
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id.in_(order_ids))
                              .values(status=status, paid_at=Order.created_at))


async def _track(client: httpx.AsyncClient, video_id: int, who: TestUser | None,
                 body: dict[str, Any]) -> httpx.Response:
    headers = {**ORIGIN, **(who.headers if who else {})}
    return await client.post(f"/api/videos/{video_id}/track", json=body, headers=headers)


async def test_a_videos_report_counts_its_views_watch_time_clicks_and_attributed_orders(
        client: httpx.AsyncClient, app: Any, services: Services, make_user: MakeUser,
        make_product: Factory, make_room: Factory) -> None:
    # given a short video tagging a scarf and a hat, both on flash sale in the host's live room
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf", stock=50, price_minor=9900)
    hat = await make_product(host, title="Hat", stock=50)
    room = await make_room(host, products=[scarf, hat], live=True)
    scarf_sale = await _sale(client, host, room, scarf, 2500)
    video_id = await make_video(services, host, [scarf["id"], hat["id"]])
    other_video = await make_video(services, host, [scarf["id"]])
    alice, bob, carol = await make_user(), await make_user(), await make_user()

    # when two viewers watch it (one twice), a guest starts it, cards are clicked, and orders
    # are bought from it, from another video and in the live room
    for who in (alice, alice, bob):
        assert (await _track(client, video_id, who, {"event": "video_view"})).status_code == 202
    guest = await client.post(f"/api/videos/{video_id}/track", json={"event": "video_view"})
    assert guest.status_code == 202, guest.text
    for who, seconds in ((alice, 15), (alice, 15), (alice, 7), (bob, 20)):
        response = await _track(client, video_id, who, {"event": "video_watch", "seconds": seconds})
        assert response.status_code == 202, response.text
    for who, product in ((alice, scarf), (bob, scarf), (bob, hat)):
        response = await _track(client, video_id, who,
                                {"event": "product_click", "product_id": product["id"]})
        assert response.status_code == 202, response.text
    await _track(client, other_video, carol, {"event": "video_view"})
    from_video = {"kind": "video", "id": video_id}
    paid = [await _buy(client, alice, scarf_sale["id"], "a1", from_video),
            await _buy(client, bob, scarf_sale["id"], "b1", from_video)]
    unpaid = await _buy(client, alice, scarf_sale["id"], "a2", from_video)
    await _buy(client, carol, scarf_sale["id"], "c1", {"kind": "video", "id": other_video})
    live_order = await _buy(client, carol, scarf_sale["id"], "c2", None)
    await _set_status(services, [*paid, live_order], "paid")
    await _set_status(services, [paid[1]], "refunded")
    await (await recorder_of(app)).flush()

    # then the video's rows are its own (no room), and its report adds them up
    async with services.db.session() as session:
        rows = list(await session.scalars(select(AnalyticsEvent).where(
            AnalyticsEvent.video_id == video_id)))
    assert rows and all(row.room_id is None for row in rows)
    response = await client.get(f"/api/videos/{video_id}/report", headers=host.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["video"]["kind"] == "video"
    assert (report["views"], report["unique_viewers"]) == (4, 3)
    assert report["watch_seconds"] == 57 and report["avg_watch_seconds"] == 14
    assert (report["product_clicks"], report["clickers"]) == (3, 2)
    assert (report["orders"], report["paid_orders"], report["buyers"]) == (3, 2, 2)
    assert (report["currency"], report["gmv_minor"], report["refunded_minor"],
            report["net_gmv_minor"]) == ("USD", 5000, 2500, 2500)
    by_product = {p["title"]: p for p in report["products"]}
    assert (by_product["Scarf"]["clicks"], by_product["Scarf"]["orders"],
            by_product["Scarf"]["paid_orders"], by_product["Scarf"]["gmv_minor"]) == (2, 3, 2, 5000)
    assert (by_product["Hat"]["clicks"], by_product["Hat"]["orders"]) == (1, 0)
    assert unpaid not in paid


async def test_the_track_endpoint_refuses_what_the_video_does_not_show(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_product: Factory) -> None:
    host, viewer = await make_user("host"), await make_user()
    scarf = await make_product(host, title="Scarf")
    gloves = await make_product(host, title="Gloves")
    video_id = await make_video(services, host, [scarf["id"]])
    processing = await make_video(services, host, [scarf["id"]], status="processing")

    refused = [
        (video_id, {"event": "product_click", "product_id": gloves["id"]}, 422, "product_id"),
        (video_id, {"event": "product_click"}, 422, "product_id"),
        (video_id, {"event": "video_watch"}, 422, "seconds"),
        (video_id, {"event": "video_watch", "seconds": 3600}, 422, "seconds"),
        (video_id, {"event": "likes"}, 422, "event"),
        (processing, {"event": "video_view"}, 404, "video_id"),
        (987654321, {"event": "video_view"}, 404, "video_id"),
    ]
    for target, body, status, field in refused:
        response = await _track(client, target, viewer, body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field, (body, response.text)


async def test_only_the_host_and_ops_read_a_videos_report_and_its_page(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_product: Factory) -> None:
    host, other_host, ops = await make_user("host"), await make_user("host"), await make_user("ops")
    viewer = await make_user()
    scarf = await make_product(host, title="Scarf")
    video_id = await make_video(services, host, [scarf["id"]])
    await _track(client, video_id, viewer, {"event": "video_view"})

    statuses = [(await client.get(f"/api/videos/{video_id}/report", headers=who.headers))
                .status_code for who in (host, ops, other_host, viewer)]
    page = await client.get(f"/ops/videos/{video_id}", headers=host.headers)
    refused_page = await client.get(f"/ops/videos/{video_id}", headers=other_host.headers)
    missing = await client.get("/api/videos/987654321/report", headers=ops.headers)

    assert statuses == [200, 200, 403, 403]
    assert page.status_code == 200
    assert 'data-testid="kpi-views"' in page.text and "Scarf" in page.text
    assert refused_page.status_code == 403
    assert missing.status_code == 404


async def test_a_replay_counts_in_its_broadcasts_report_as_its_own_source(
        client: httpx.AsyncClient, app: Any, services: Services, make_user: MakeUser,
        make_product: Factory, make_room: Factory) -> None:
    # given a show that ended and has a replay, and a later live room selling the same scarf
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf", stock=50, price_minor=9900)
    show = await make_room(host, products=[scarf], live=True)
    response = await client.post(f"/api/rooms/{show['id']}/status", json={"status": "ended"},
                                 headers=host.headers)
    assert response.status_code == 200, response.text
    replay_id = await make_video(services, host, [scarf["id"]], room_id=show["id"])
    tonight = await make_room(host, products=[scarf], live=True)
    sale = await _sale(client, host, tonight, scarf, 3000)
    viewer = await make_user()

    # when the replay is watched and sells, and tonight's room sells live too
    await _track(client, replay_id, viewer, {"event": "video_view"})
    await _track(client, replay_id, viewer, {"event": "video_watch", "seconds": 30})
    from_replay = await _buy(client, viewer, sale["id"], "r1", {"kind": "replay", "id": replay_id})
    live = await _buy(client, viewer, sale["id"], "l1", None)
    await _set_status(services, [from_replay, live], "paid")
    await (await recorder_of(app)).flush()

    # then the show's report carries its replay's numbers, and tonight's splits its orders
    shows = (await client.get(f"/api/ops/broadcasts/{show['id']}/report",
                              headers=host.headers)).json()
    replay = shows["sources"]["replay"]
    assert replay["video"]["id"] == replay_id and replay["video"]["kind"] == "replay"
    assert (replay["views"], replay["watch_seconds"], replay["paid_orders"],
            replay["gmv_minor"]) == (1, 30, 1, 3000)
    tonights = (await client.get(f"/api/ops/broadcasts/{tonight['id']}/report",
                                 headers=host.headers)).json()
    assert tonights["sources"]["replay"] is None
    assert tonights["sources"]["orders_by_source"] == [
        {"kind": "live", "currency": "USD", "paid_orders": 1, "gmv_minor": 3000},
        {"kind": "replay", "currency": "USD", "paid_orders": 1, "gmv_minor": 3000}]
    page = await client.get(f"/ops/broadcasts/{show['id']}", headers=host.headers)
    assert page.status_code == 200 and 'data-testid="replay-source"' in page.text
    assert f"/ops/videos/{replay_id}" in page.text


async def test_the_dashboard_lists_videos_with_their_headline_numbers(
        client: httpx.AsyncClient, app: Any, services: Services, make_user: MakeUser,
        make_product: Factory, make_room: Factory) -> None:
    # given two hosts' videos, one watched and sold from, one processing
    host, other_host, ops = await make_user("host"), await make_user("host"), await make_user("ops")
    viewer = await make_user()
    scarf = await make_product(host, title="Scarf", stock=50, price_minor=9900)
    room = await make_room(host, products=[scarf], live=True)
    sale = await _sale(client, host, room, scarf, 2500)
    older = await make_video(services, host, [scarf["id"]])
    newer = await make_video(services, host, [scarf["id"]])
    await make_video(services, host, [scarf["id"]], status="processing")
    theirs = await make_video(services, other_host, [])
    await _track(client, newer, viewer, {"event": "video_view"})
    await _track(client, newer, viewer, {"event": "video_watch", "seconds": 40})
    await _track(client, newer, viewer, {"event": "product_click", "product_id": scarf["id"]})
    order = await _buy(client, viewer, sale["id"], "v1", {"kind": "video", "id": newer})
    await _set_status(services, [order], "paid")
    await (await recorder_of(app)).flush()

    # when the host and ops list them
    mine = (await client.get("/api/ops/videos", headers=host.headers)).json()["videos"]
    everyone = (await client.get("/api/ops/videos", headers=ops.headers)).json()["videos"]
    filtered = (await client.get(f"/api/ops/videos?host_id={other_host.id}",
                                 headers=ops.headers)).json()["videos"]
    dashboard = await client.get("/ops", headers=host.headers)

    # then each sees the ready ones they may, newest first, with their numbers
    assert [v["id"] for v in mine] == [newer, older]
    assert [v["id"] for v in everyone] == [theirs, newer, older]
    assert [v["id"] for v in filtered] == [theirs]
    top = mine[0]
    assert (top["views"], top["unique_viewers"], top["watch_seconds"], top["product_clicks"],
            top["paid_orders"], top["currency"], top["gmv_minor"]) == (1, 1, 40, 1, 1, "USD", 2500)
    assert (mine[1]["views"], mine[1]["gmv_minor"]) == (0, 0)
    assert dashboard.status_code == 200
    assert f'href="/ops/videos/{newer}"' in dashboard.text
    assert f'data-video-id="{theirs}"' not in dashboard.text
