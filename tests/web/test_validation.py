"""Bad input gets a 4xx JSON error naming the field and the reason, and changes nothing."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, select
from starlette.requests import Request

from core.context import Services
from core.errors import ValidationError
from live.models import Product, Room
from orders.schemas import BuyIn, SaleIn
from web import api_orders, api_regular
from web.validation import parse_body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "price_minor": 100, "currency": "USD", "stock": 1}, "title"),
        ({"title": "A", "price_minor": -1, "currency": "USD", "stock": 1}, "price_minor"),
        ({"title": "A", "price_minor": 1.5, "currency": "USD", "stock": 1}, "price_minor"),
        ({"title": "A", "price_minor": 100, "currency": "usd", "stock": 1}, "currency"),
        ({"title": "A", "price_minor": 100, "currency": "USD", "stock": -3}, "stock"),
        ({"title": "A", "price_minor": 100, "currency": "USD"}, "stock"),
        ({"title": "A", "price_minor": 100, "currency": "USD", "stock": 1, "x": 1}, "x"),
        ({"title": "A", "price_minor": 100, "currency": "USD", "stock": 1,
          "image_url": "javascript:alert(1)"}, "image_url"),
    ],
)
async def test_bad_product_is_rejected_with_the_field(client, make_user, services: Services,
                                                      body, field):
    host = await make_user("host")

    response = await client.post("/api/products", json=body, headers=host.headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["field"] == field and error["message"]
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Product)) == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"title": "x", "scheduled_at": "2026-01-01T20:00:00"}', "scheduled_at"),
        (b'{"title": "x", "scheduled_at": "tomorrow"}', "scheduled_at"),
        (b'{"title": "' + b"x" * 200 + b'"}', "title"),
    ],
)
async def test_bad_room_is_rejected_with_the_field(client, make_user, services: Services, raw, field):
    host = await make_user("host")

    response = await client.post("/api/rooms", content=raw,
                                 headers={**host.headers, "content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Room)) == 0


async def test_unknown_room_is_a_json_404(client):
    response = await client.get("/api/rooms/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "room_not_found"


async def test_unknown_path_is_a_json_404(client):
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_the_order_lists_refuse_an_unknown_status_alike_through_one_filter(
        client, make_user):
    buyer, host = await make_user(), await make_user("host")
    mine = await client.get("/api/orders?status=lost", headers=buyer.headers)
    hosted = await client.get("/api/host/orders?status=lost", headers=host.headers)

    assert mine.status_code == hosted.status_code == 422
    assert mine.json() == hosted.json()
    assert mine.json()["error"]["field"] == "status"
    # one filter for both lists: the same code reads either status filter
    for module in (api_orders, api_regular):
        assert "query_choice" in vars(module) and "OrderStatus" in inspect.getsource(module)
        assert 'query_params.get("status")' not in inspect.getsource(module)


def _request(body: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "path": "/", "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]},
        receive)


async def test_a_frozen_bodys_validation_is_kept_by_its_bytes_and_errors_are_not():
    # given the buy body, whose model is frozen: the same bytes give the same (unchangeable)
    # instance, without validating again; other bytes their own
    first = await parse_body(_request(b'{"quantity":2}'), BuyIn)
    again = await parse_body(_request(b'{"quantity":2}'), BuyIn)
    other = await parse_body(_request(b'{"quantity":3}'), BuyIn)
    assert again is first and (first.quantity, other.quantity) == (2, 3)
    with pytest.raises(PydanticValidationError):
        first.quantity = 50  # type: ignore[misc]
    # a refused body is refused every time, with its field
    for _ in range(2):
        with pytest.raises(ValidationError) as refused:
            await parse_body(_request(b'{"quantity":0}'), BuyIn)
        assert refused.value.errors[0]["field"] == "quantity"
    # a model that is not frozen gets a new instance per request (its handler may change it)
    assert not SaleIn.model_config.get("frozen")
    body = b'{"product_id":1,"price_minor":5,"quantity":1,"duration_seconds":60}'
    assert await parse_body(_request(body), SaleIn) is not await parse_body(_request(body), SaleIn)
