"""Resume covers the state that matters most: a flash sale and its stock counters.

The zulip way again: the hello a viewer had before a sale, plus the events it missed while
away (the sale starting, buys moving the counters, the host stopping it and the units going
back to the lineup), must equal the hello of a viewer who connects fresh."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.context import Services
from orders.runtime import runtime
from tests.conftest import MakeUser
from tests.realtime.conftest import Connect
from tests.realtime.test_resume import ClientState, _read_resume


class SaleClientState(ClientState):
    """A page's state with the sale box: the sale's terms and its live counters."""

    def __init__(self, hello: dict[str, Any]) -> None:
        super().__init__(hello)
        self.sale = hello["data"].get("sale")
        self.stock = hello["data"].get("stock")

    def apply(self, event: dict[str, Any]) -> None:
        super().apply(event)
        if event["type"] == "sale":
            self.sale = event["data"]["sale"]
            if "stock" in event["data"]:
                self.stock = event["data"]["stock"]
        elif event["type"] == "stock":
            self.stock = event["data"]

    def view(self) -> dict[str, Any]:
        return {**super().view(), "sale": self.sale, "stock": self.stock}


@pytest.mark.redis6
async def test_a_sale_missed_while_away_resumes_to_the_fresh_snapshot(
        make_user: MakeUser, make_product, make_room, client: httpx.AsyncClient,
        services: Services, connect_viewer: Connect) -> None:
    # given a viewer who saw the room before any sale and went away
    host = await make_user("host")
    mug = await make_product(host, title="Mug", stock=10)
    room = await make_room(host, products=[mug], live=True)
    viewer = await make_user("viewer", name="Bob")
    first = await connect_viewer(room["id"], user=viewer)
    old = SaleClientState(await first.next("hello"))
    await first.close()
    assert old.sale is None

    # when a sale of 5 mugs starts, two buyers take 3 units, and the host stops it
    response = await client.post(f"/api/rooms/{room['id']}/sales", json={
        "product_id": mug["id"], "price_minor": 500, "quantity": 5, "duration_seconds": 600,
        "per_user_limit": 2}, headers=host.headers)
    assert response.status_code == 201, response.text
    sale_id = response.json()["id"]
    for name, quantity in (("Ana", 2), ("Cy", 1)):
        buyer = await make_user("viewer", name=name)
        response = await client.post(f"/api/sales/{sale_id}/buy", json={"quantity": quantity},
                                     headers={**buyer.headers, "Idempotency-Key": f"k-{name}"})
        assert response.status_code == 201, response.text
    await runtime(services).publisher.flush()
    response = await client.post(f"/api/sales/{sale_id}/stop", headers=host.headers)
    assert response.status_code == 200, response.text

    # and the viewer comes back with its last offset
    back = await connect_viewer(room["id"], user=viewer, offset=old.offset)
    resume, missed = await _read_resume(back)
    fresh = await connect_viewer(room["id"], user=viewer)
    fresh_hello = await fresh.next("hello")

    # then applying what it missed gives the fresh snapshot, sale and counters included
    assert resume["type"] == "resume"
    assert {"sale", "stock", "pin", "lineup"} <= {e["type"] for e in missed}
    for event in missed:
        old.apply(event)
    assert old.view() == SaleClientState(fresh_hello).view()
    assert old.sale["id"] == sale_id and old.sale["status"] == "ended"
    assert old.stock == {"sale_id": sale_id, "remaining": 2, "reserved": 3, "sold": 0}
