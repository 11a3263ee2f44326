"""Orders remember where they were bought: the live room, a room's replay or a short video.
The page names its source with the buy; the server checks it before reserving anything."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from core.context import Services
from live.models import ShortVideo, ShortVideoTag, VideoStatus
from orders.models import Order
from orders.reconcile import check_invariant
from tests.conftest import TestUser


async def make_video(services: Services, host: TestUser, product_ids: list[int], *,
                     room_id: int | None = None, status: str = VideoStatus.READY.value) -> int:
    """A short video (a replay with `room_id`) tagging the products: the transcode itself is
    tested in tests/video; here only its row and tags matter."""
    async with services.db.transaction() as session:
        video = ShortVideo(host_id=host.id, room_id=room_id, title="Scarves", status=status,
                           size_bytes=1000, content_type="video/mp4", duration_ms=30_000,
                           renditions=[360])
        session.add(video)
        await session.flush()
        session.add_all([ShortVideoTag(video_id=video.id, product_id=product_id, at_ms=1000)
                         for product_id in product_ids])
        return int(video.id)


async def buy_from(client: httpx.AsyncClient, user: TestUser, sale_id: int, key: str,
                   source: dict[str, Any] | None) -> httpx.Response:
    body: dict[str, Any] = {"quantity": 1}
    if source is not None:
        body["source"] = source
    return await client.post(f"/api/sales/{sale_id}/buy", json=body,
                             headers={**user.headers, "Idempotency-Key": key})


async def test_a_buy_without_a_source_is_the_live_rooms(client, make_user, make_sale,
                                                        services: Services):
    sale = await make_sale(quantity=5)
    buyer = await make_user()

    response = await buy_from(client, buyer, sale.id, "k1", None)

    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["source"] == {"kind": "live", "id": sale.room["id"]}
    async with services.db.session() as session:
        row = await session.get(Order, order["id"])
    # (a live order's source id is left empty: it is the order's room)
    assert row is not None and (row.source_kind, row.source_ref) == ("live", sale.room["id"])


async def test_an_order_from_a_short_video_is_attributed_to_it(client, make_user, make_sale,
                                                               services: Services):
    # given a sale of a product that a ready short video of the host tags
    sale = await make_sale(quantity=5)
    video_id = await make_video(services, sale.host, [sale.product["id"]])
    buyer = await make_user()

    # when the video's page sends the buy with its source
    response = await buy_from(client, buyer, sale.id, "k1", {"kind": "video", "id": video_id})

    # then the order records the video, in the reply, the row and the order's API view
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["source"] == {"kind": "video", "id": video_id}
    async with services.db.session() as session:
        row = await session.get(Order, order["id"])
    assert row is not None and (row.source_kind, row.source_id) == ("video", video_id)
    fetched = await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)
    assert fetched.json()["source"] == {"kind": "video", "id": video_id}
    # a repeat of the key answers the same attributed order
    again = await buy_from(client, buyer, sale.id, "k1", {"kind": "video", "id": video_id})
    assert again.json()["order"]["source"] == {"kind": "video", "id": video_id}


async def test_an_order_from_a_replay_is_attributed_to_the_replay(client, make_user, make_sale,
                                                                  make_room, services: Services):
    sale = await make_sale(quantity=5)
    earlier_show = await make_room(sale.host, products=[sale.product])
    replay_id = await make_video(services, sale.host, [sale.product["id"]],
                                 room_id=earlier_show["id"])
    buyer = await make_user()

    response = await buy_from(client, buyer, sale.id, "k1", {"kind": "replay", "id": replay_id})

    assert response.status_code == 201, response.text
    assert response.json()["order"]["source"] == {"kind": "replay", "id": replay_id}


async def test_a_source_that_does_not_show_the_product_is_refused_and_reserves_nothing(
        client, make_user, make_sale, make_product, make_room, services: Services):
    # given a sale, and videos that do not qualify as its source
    sale = await make_sale(quantity=5)
    other = await make_product(sale.host, title="Gloves")
    other_room = await make_room(sale.host)
    untagged = await make_video(services, sale.host, [other["id"]])
    unready = await make_video(services, sale.host, [sale.product["id"]],
                               status=VideoStatus.PROCESSING.value)
    short = await make_video(services, sale.host, [sale.product["id"]])
    replay = await make_video(services, sale.host, [sale.product["id"]],
                              room_id=other_room["id"])
    buyer = await make_user()
    refused = [
        {"kind": "video", "id": untagged},          # does not show the sale's product
        {"kind": "video", "id": unready},           # not ready
        {"kind": "video", "id": 987654321},         # does not exist
        {"kind": "replay", "id": short},            # a short video is not a replay
        {"kind": "video", "id": replay},            # nor a replay a short video
        {"kind": "live", "id": other_room["id"]},   # a live source is the sale's own room
    ]

    for number, source in enumerate(refused):
        response = await buy_from(client, buyer, sale.id, f"k{number}", source)

        # then each is a 422 naming source.id, and nothing is reserved or written
        assert response.status_code == 422, (source, response.text)
        assert response.json()["error"]["field"] == "source.id", response.text
    for bad in ({"kind": "tv", "id": short}, {"kind": "video", "id": 0}, {"kind": "video"}):
        response = await buy_from(client, buyer, sale.id, "bad", bad)
        assert response.status_code == 422, (bad, response.text)
    async with services.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(Order))
    assert orders == 0
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.reserved == 0 and report.redis.available == 5


async def test_a_live_source_naming_the_sales_room_is_accepted(client, make_user, make_sale):
    sale = await make_sale(quantity=5)
    buyer = await make_user()

    response = await buy_from(client, buyer, sale.id, "k1",
                              {"kind": "live", "id": sale.room["id"]})

    assert response.status_code == 201, response.text
    assert response.json()["order"]["source"] == {"kind": "live", "id": sale.room["id"]}
