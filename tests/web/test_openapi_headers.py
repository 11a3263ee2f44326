"""/openapi.json declares the request headers an operation requires."""

from __future__ import annotations

import re

import httpx


async def test_the_buy_route_declares_its_required_idempotency_key_header(
        client: httpx.AsyncClient):
    spec = (await client.get("/openapi.json")).json()

    parameters = spec["paths"]["/api/sales/{sale_id}/buy"]["post"]["parameters"]
    headers = {p["name"]: p for p in parameters if p["in"] == "header"}

    assert set(headers) == {"Idempotency-Key"}
    key = headers["Idempotency-Key"]
    assert key["required"] is True and key["description"]
    assert key["schema"]["type"] == "string"
    pattern = re.compile(key["schema"]["pattern"])
    assert pattern.match("3f1c2a9e-7b1d-4e55-9a0b-1c2d3e4f5a6b")
    assert not pattern.match("") and not pattern.match("x" * 101)
    assert not pattern.match("has space")
    assert {"name": "sale_id", "in": "path"}.items() <= parameters[0].items()
