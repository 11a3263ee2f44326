"""What a first-time user trips over: a page address that does not exist, the ops user's
landing, sign-up errors in words, the sandbox page's decline text and its way back."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import MakeUser
from tests.orders.conftest import make_sale  # noqa: F401  (the fixture)

# A browser's headers, in English (a first visit without Accept-Language is in Chinese:
# tests/web/test_locale.py).
HTML = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-US,en;q=0.9"}


async def test_a_page_address_that_does_not_exist_is_the_html_404_page(
        client: httpx.AsyncClient) -> None:
    # when a browser opens /rooms/abc (no such route: the id is not a number)
    page = await client.get("/rooms/abc", headers=HTML)
    # then it gets the error page, with the pages' security headers
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and "content-security-policy" in page.headers

    # and an API client asking for a missing API path still gets the JSON error
    api = await client.get("/api/nope", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


async def test_ops_land_on_the_dashboard_not_an_empty_host_panel(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    ops = await make_user("ops")
    response = await client.get("/host", headers={**ops.headers, **HTML})
    assert response.status_code == 303 and response.headers["location"] == "/ops"


async def test_sign_up_errors_are_in_words(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/signup", json={
        "email": "not-an-email", "password": "short", "display_name": "", "role": "viewer"})
    assert response.status_code == 422
    messages = {e["field"]: e["message"] for e in response.json()["error"]["errors"]}
    assert messages == {"email": "Enter an email address like name@example.com.",
                        "password": "Use at least 8 characters.",
                        "display_name": "This can't be empty."}


async def test_the_sandbox_page_says_what_a_decline_means_and_a_payment_goes_back_to_the_show(
        client: httpx.AsyncClient, make_user: MakeUser,
        make_sale: Any) -> None:  # noqa: F811  (the fixture imported above)
    # given two orders awaiting payment
    sale = await make_sale(quantity=5)
    pages = []
    for action in ("decline", "pay"):
        buyer = await make_user()
        bought = await client.post(f"/api/sales/{sale.id}/buy", json={},
                                   headers={**buyer.headers, "Idempotency-Key": action})
        order = bought.json()["order"]
        signature = order["payment_url"].split("sig=")[1]
        # when one buyer declines and the other pays
        pages.append(await client.post(f"/sandbox/pay/{order['id']}",
                                       headers={**buyer.headers, "Accept-Language": "en"},
                                       data={"sig": signature, "action": action}))
    declined, paid = pages

    # then the decline says nothing was charged (not that the shop will confirm the order)
    assert 'data-status="declined"' in declined.text
    assert "Nothing was charged" in declined.text and "will confirm" not in declined.text
    # and both pages take the buyer back to the show by themselves
    back = f'<meta http-equiv="refresh" content="2;url=/rooms/{sale.room["id"]}">'
    assert back in paid.text and back in declined.text


async def test_a_show_that_never_went_live_says_so_in_its_report(
        client: httpx.AsyncClient, make_user: MakeUser, make_room: Any) -> None:
    # given a room created and ended without ever going live
    host = await make_user("host")
    room = await make_room(host)
    ended = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                              headers=host.headers)
    assert ended.status_code == 200

    # when its report is built and opened
    report = await client.post(f"/api/ops/broadcasts/{room['id']}/report", headers=host.headers)
    page = await client.get(f"/ops/broadcasts/{room['id']}", headers={**host.headers, **HTML})

    # then it lasted nothing, and the page says it never went live
    assert report.status_code == 200, report.text
    assert report.json()["summary"]["duration_seconds"] == 0
    assert report.json()["room"]["went_live"] is False
    assert "never went live" in page.text
