"""Starting a flash sale pins its product and shows the product's new stock to the room."""

from __future__ import annotations

from tests.conftest import capture_news


async def test_starting_a_sale_pins_the_product_and_updates_the_lineup_stock(
        client, make_user, make_product, make_room, services):
    # given a live room with two products, the first pinned
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf", stock=20)
    mug = await make_product(host, title="Mug", stock=8)
    room = await make_room(host, products=[scarf, mug], live=True)
    await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": scarf["id"]},
                      headers=host.headers)

    # when the host starts a sale of 5 mugs
    async with capture_news(services) as published:
        response = await client.post(f"/api/rooms/{room['id']}/sales", json={
            "product_id": mug["id"], "price_minor": 500, "quantity": 5, "duration_seconds": 60,
        }, headers=host.headers)

    # then the room hears the lineup with 3 mugs left in the catalog, and the mug is pinned
    assert response.status_code == 201, response.text
    lineups = [e for e in published if e["type"] == "lineup"]
    assert lineups and {p["title"]: p["stock"] for p in lineups[-1]["data"]["products"]} == {
        "Scarf": 20, "Mug": 3}
    pins = [e for e in published if e["type"] == "pin"]
    assert pins[-1]["data"]["product"]["id"] == mug["id"]
    detail = (await client.get(f"/api/rooms/{room['id']}")).json()
    assert detail["pinned_product_id"] == mug["id"]


async def test_stopping_a_sale_shows_the_room_its_unsold_units_back_in_stock(
        client, make_user, make_product, make_room, services):
    # given a live room whose mug is in a running sale of 5 out of 8
    host = await make_user("host")
    mug = await make_product(host, title="Mug", stock=8)
    room = await make_room(host, products=[mug], live=True)
    response = await client.post(f"/api/rooms/{room['id']}/sales", json={
        "product_id": mug["id"], "price_minor": 500, "quantity": 5, "duration_seconds": 60,
    }, headers=host.headers)
    assert response.status_code == 201, response.text
    sale = response.json()

    # when the host stops the sale with nothing sold
    async with capture_news(services) as published:
        response = await client.post(f"/api/sales/{sale['id']}/stop", headers=host.headers)

    # then the sale is settled and the room hears the lineup with all 8 mugs back
    assert response.status_code == 200, response.text
    lineups = [e for e in published if e["type"] == "lineup"]
    assert lineups, [e["type"] for e in published]
    assert {p["title"]: p["stock"] for p in lineups[-1]["data"]["products"]} == {"Mug": 8}
