"""Text and lineup sizes are bounded, and a refusal names the field."""

from __future__ import annotations

import httpx

from live.schemas import DESCRIPTION_MAX_LENGTH, LINEUP_MAX_PRODUCTS, TITLE_MAX_LENGTH
from tests.conftest import MakeUser


async def test_an_oversize_description_is_refused_naming_the_field(
        make_user: MakeUser, make_product, client: httpx.AsyncClient) -> None:
    host = await make_user("host")
    body = {"title": "Scarf", "price_minor": 100, "currency": "USD", "stock": 1,
            "description": "d" * (DESCRIPTION_MAX_LENGTH + 1)}

    created = await client.post("/api/products", json=body, headers=host.headers)
    product = await make_product(host, description="d" * DESCRIPTION_MAX_LENGTH)
    patched = await client.patch(f"/api/products/{product['id']}",
                                 json={"description": "d" * (DESCRIPTION_MAX_LENGTH + 1)},
                                 headers=host.headers)

    for response in (created, patched):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "description"
    listed = await client.get("/api/products", headers=host.headers)
    assert [p["id"] for p in listed.json()["products"]] == [product["id"]]


async def test_an_oversize_title_is_refused_naming_the_field(
        make_user: MakeUser, client: httpx.AsyncClient) -> None:
    host = await make_user("host")

    response = await client.post("/api/rooms", json={"title": "t" * (TITLE_MAX_LENGTH + 1)},
                                 headers=host.headers)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "title"


async def test_an_oversize_lineup_is_refused_naming_the_field(
        make_user: MakeUser, make_product, make_room, client: httpx.AsyncClient) -> None:
    # given a host with more products than a lineup may hold
    host = await make_user("host")
    catalog = [await make_product(host, title=f"Product {n}")
               for n in range(LINEUP_MAX_PRODUCTS + 1)]
    scarf = catalog[0]
    room = await make_room(host, products=[scarf])

    # when all of them are put in the lineup
    response = await client.put(f"/api/rooms/{room['id']}/lineup",
                                json={"product_ids": [p["id"] for p in catalog]},
                                headers=host.headers)

    # then it is refused and the lineup is unchanged

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "product_ids"
    lineup = await client.get(f"/api/rooms/{room['id']}/lineup")
    assert [p["id"] for p in lineup.json()["products"]] == [scarf["id"]]
