"""The host's guardrails: a sale priced above the regular price, a show ended mid-sale."""

from __future__ import annotations

from tests.orders.conftest import MakeSale


async def test_a_sale_priced_above_the_regular_price_is_refused(client, make_user, make_product,
                                                                make_room):
    # given a product at 25.00 in a live room
    host = await make_user("host")
    product = await make_product(host, stock=10, price_minor=2500)
    room = await make_room(host, products=[product], live=True)
    body = {"product_id": product["id"], "price_minor": 25000, "quantity": 2,
            "duration_seconds": 60}

    # when the host starts a sale at 250.00 (an extra zero)
    refused = await client.post(f"/api/rooms/{room['id']}/sales", json=body, headers=host.headers)

    # then it is refused, naming the field, and no unit left the product
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "price_above_regular" and error["field"] == "price_minor"
    assert error["regular_price_minor"] == 2500
    lineup = (await client.get(f"/api/rooms/{room['id']}/lineup")).json()
    assert lineup["products"][0]["stock"] == 10

    # when the host confirms the price is meant
    confirmed = await client.post(f"/api/rooms/{room['id']}/sales",
                                  json={**body, "confirm_above_regular": True},
                                  headers=host.headers)

    # then the sale starts
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["price_minor"] == 25000


async def test_ending_a_show_with_a_sale_on_needs_the_hosts_word(client, make_sale: MakeSale):
    # given a running sale
    sale = await make_sale(quantity=5)
    path = f"/api/rooms/{sale.room['id']}/status"

    # when the host ends the show without saying the sale may stop
    refused = await client.post(path, json={"status": "ended"}, headers=sale.host.headers)

    # then the API refuses, and the room stays live
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "sale_running"
    assert refused.json()["error"]["field"] == "end_running_sale"
    assert (await client.get(f"/api/rooms/{sale.room['id']}")).json()["status"] == "live"

    # when they confirm
    ended = await client.post(path, json={"status": "ended", "end_running_sale": True},
                              headers=sale.host.headers)

    # then the show ends
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
