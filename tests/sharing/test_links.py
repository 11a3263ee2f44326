"""Share links over HTTP: issuing a link, following it (the API and the browser's /s/{code}),
a forged, expired, malformed or dangling code refused with its reason and nothing recorded,
the per-client rate limit and the one-visit-per-client rule, a guest's click claimed at
sign-in, and the sharer's overview."""

from __future__ import annotations

import re
import time

import httpx

from core.context import Services
from sharing.codes import ShareCode, TargetKind, make_code
from sharing.models import ShareAttribution, ShareVisit
from tests.conftest import count_rows
from tests.orders.test_buy import statements_seen
from tests.sharing.conftest import follow, paid_order, share_link
from web.i18n import CATALOGS
from web.pages_shares import OTHER_TITLE, TITLES

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


async def _counts(services: Services) -> tuple[int, ...]:
    """(visits, attributions)"""
    return await count_rows(services, ShareVisit, ShareAttribution)


async def test_a_signed_in_user_gets_one_link_per_room_or_product(
        client, make_user, make_product, make_room):
    host, sharer = await make_user("host"), await make_user()
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)

    first = await share_link(client, sharer, "room", room["id"])
    again = await share_link(client, sharer, "room", room["id"])
    of_product = await share_link(client, sharer, "product", product["id"])

    assert first == again and first["path"] == f"/s/{first['code']}"
    assert first["code"].startswith(f"r{room['id']}.{sharer.id}.")
    assert of_product["code"].startswith(f"p{product['id']}.{sharer.id}.")
    # a product's link leads to a room that has it in its lineup
    visit = (await follow(client, await make_user(), of_product["code"])).json()
    assert visit["path"] == f"/rooms/{room['id']}"


async def test_asking_for_a_link_refuses_guests_and_missing_targets(
        client, make_user):
    sharer = await make_user()

    guest = await client.post("/api/shares", json={"kind": "room", "id": 1})
    missing = await client.post("/api/shares", headers=sharer.headers,
                                json={"kind": "product", "id": 999})
    group = await client.post("/api/shares", headers=sharer.headers,
                              json={"kind": "group", "id": 1})  # no such group
    unknown = await client.post("/api/shares", headers=sharer.headers,
                                json={"kind": "video", "id": 1})

    assert guest.status_code == 401
    assert (missing.status_code, missing.json()["error"]["code"],
            missing.json()["error"]["field"]) == (404, "share_target_not_found", "id")
    assert (group.status_code, group.json()["error"]["code"]) == (404, "share_target_not_found")
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "kind")


async def test_a_bad_code_is_refused_with_its_reason_and_nothing_is_recorded(
        client, make_user, make_room, services: Services):
    host, sharer, visitor = await make_user("host"), await make_user(), await make_user()
    room = await make_room(host, live=True)
    good = (await share_link(client, sharer, "room", room["id"]))["code"]
    secret = services.settings.secret_key.reveal()
    payload, _, signature = good.rpartition(".")
    other_room = payload.replace(f"r{room['id']}.", f"r{room['id'] + 1}.", 1)
    old = make_code(secret, ShareCode(TargetKind.ROOM, room["id"], sharer.id,
                                      int(time.time()) - 91 * 86400))
    gone = make_code(secret, ShareCode(TargetKind.ROOM, 424242, sharer.id, int(time.time())))
    group = make_code(secret, ShareCode(TargetKind.GROUP, 7, sharer.id, int(time.time())))
    flipped = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]

    cases = {"not-a-code": (400, "share_code_malformed"),
             flipped: (403, "share_code_forged"),
             f"{other_room}.{signature}": (403, "share_code_forged"),
             old: (410, "share_code_expired"),
             gone: (404, "share_target_not_found"),
             group: (404, "share_target_not_found")}
    for code, (status, reason) in cases.items():
        response = await follow(client, visitor, code)
        assert (response.status_code, response.json()["error"]["code"]) == (status, reason), code
        assert "ls_share" not in response.cookies

    assert await _counts(services) == (0, 0)


async def test_the_browser_link_redirects_to_the_room_and_a_bad_one_gets_a_page(
        client, make_user, make_room, services: Services):
    host, sharer = await make_user("host"), await make_user()
    room = await make_room(host, live=True)
    code = (await share_link(client, sharer, "room", room["id"]))["code"]

    followed = await client.get(f"/s/{code}", follow_redirects=False)
    expired = await client.get("/s/" + make_code(
        services.settings.secret_key.reveal(),
        ShareCode(TargetKind.ROOM, room["id"], sharer.id, int(time.time()) - 100 * 86400)),
        headers=ENGLISH)
    forged = await client.get(f"/s/{code[:-2]}xx", headers=ENGLISH)
    malformed = await client.get("/s/not-a-code")  # a browser naming no language: Chinese

    assert followed.status_code == 303 and followed.headers["location"] == f"/rooms/{room['id']}"
    assert "ls_share" in followed.cookies
    assert expired.status_code == 410 and "This share link has expired" in expired.text
    assert "Ask whoever shared it for a fresh one." in expired.text
    assert forged.status_code == 403 and "This share link is not valid" in forged.text
    assert malformed.status_code == 400 and "这不是分享链接" in malformed.text
    assert "请确认链接已完整复制" in malformed.text and "share link" not in malformed.text
    assert await _counts(services) == (1, 0)  # the guest's one visit; no row without an account


async def test_a_burst_from_one_client_counts_once_and_then_is_throttled(
        client, make_user, make_room, services: Services, share_rules):
    share_rules(visits_per_client=5, visit_window_seconds=60)
    host, sharer, visitor = await make_user("host"), await make_user(), await make_user()
    room = await make_room(host, live=True)
    code = (await share_link(client, sharer, "room", room["id"]))["code"]

    replies = [await follow(client, visitor, code) for _ in range(6)]

    assert [r.status_code for r in replies] == [200] * 5 + [429]
    assert replies[-1].json()["error"]["code"] == "too_many_attempts"
    assert int(replies[-1].headers["Retry-After"]) >= 1
    assert [r.json()["counted"] for r in replies[:5]] == [True] + [False] * 4
    assert "ls_share" not in replies[0].cookies  # a signed-in visitor's click is their row
    # one visit, one attribution: the burst credits nothing extra
    assert await _counts(services) == (1, 1)
    overview = (await client.get("/api/me/shares", headers=sharer.headers)).json()
    assert overview["links"][0]["visits"] == 1


async def test_a_guests_click_becomes_their_attribution_when_they_sign_in(
        client: httpx.AsyncClient, make_user, make_sale, services: Services):
    host, sharer, buyer = await make_user("host"), await make_user(), await make_user()
    setup = await make_sale(host, share_rate=1000)
    code = (await share_link(client, sharer, "room", setup["room"]["id"]))["code"]
    assert (await client.get(f"/s/{code}", follow_redirects=True)).status_code == 200

    login = await client.post("/api/auth/login", json={"email": buyer.email,
                                                       "password": buyer.password})
    assert login.status_code == 200, login.text
    client.cookies.clear()
    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k")

    view = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
    assert view["share"]["credited"] is True
    assert view["share"]["entries"][0]["sharer_id"] == sharer.id
    assert view["share"]["entries"][0]["amount_minor"] == 150


async def test_the_sharers_overview_shows_links_visits_orders_and_every_entry(
        client, make_user, make_sale, services: Services):
    host, sharer, buyer = await make_user("host"), await make_user(), await make_user()
    setup = await make_sale(host, share_rate=1000)
    link = await share_link(client, sharer, "room", setup["room"]["id"])
    await follow(client, buyer, link["code"])
    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k")

    overview = (await client.get("/api/me/shares", headers=sharer.headers)).json()
    page = await client.get("/me/shares", headers=sharer.headers)  # in Chinese, the default
    english = await client.get("/me/shares", headers={**sharer.headers, **ENGLISH})
    buyer_view = (await client.get("/api/me/shares", headers=buyer.headers)).json()

    assert [(lk["id"], lk["visits"], lk["orders"]) for lk in overview["links"]] == [
        (link["id"], 1, 1)]
    assert [(o["id"], o["earning_status"], o["earned_minor"]) for o in overview["orders"]] == [
        (order["id"], "pending", 150)]
    assert [(e["order_id"], e["kind"], e["status"], e["amount_minor"])
            for e in overview["entries"]] == [(order["id"], "accrual", "pending", 150)]
    assert overview["totals"]["USD"]["pending_minor"] == 150
    assert page.status_code == 200 and f'data-order-id="{order["id"]}"' in page.text
    # the ledger entry in words, amounts through the one money formatter (full-width colon and
    # the multiplication sign written as escapes)
    chinese_text, english_text = (re.sub(r"<[^>]+>", "", p.text) for p in (page, english))
    assert "推广收益" in page.text and "已冻结" in chinese_text
    assert "佣金·待结算\uff1aUS$15.00 \u00d7 10.00% = US$1.50" in chinese_text
    assert "accrual pending 10.00% of $15.00 = $1.50" in english_text
    assert buyer_view["links"] == [] and buyer_view["entries"] == []
    # the host's own statement is unchanged by the sharer's entry
    statement = (await client.get("/api/commissions", headers=host.headers)).json()
    assert [e["party"] for e in statement["entries"]] == ["host"]


async def test_the_host_sets_a_products_share_rate_within_basis_points(
        client, make_user, make_product):
    host, stranger = await make_user("host"), await make_user("host")
    product = await make_product(host)

    too_high = await client.patch(f"/api/products/{product['id']}", headers=host.headers,
                                  json={"share_rate_bp": 10001})
    not_theirs = await client.patch(f"/api/products/{product['id']}", headers=stranger.headers,
                                    json={"share_rate_bp": 100})
    cleared = await client.patch(f"/api/products/{product['id']}", headers=host.headers,
                                 json={"share_rate_bp": None})

    assert (too_high.status_code, too_high.json()["error"]["field"]) == (422, "share_rate_bp")
    assert not_theirs.status_code == 403
    assert cleared.status_code == 200 and cleared.json()["share_rate_bp"] is None


def test_every_bad_link_page_has_its_title_and_text_in_both_languages() -> None:
    # The titles are keys chosen by the refusal's code in web/pages_shares.py, and the text is
    # the code's own words: a page in either language never shows a key.
    for locale, catalog in CATALOGS.items():
        assert OTHER_TITLE in catalog, locale
        for code, title in TITLES.items():
            assert title in catalog and f"errors.{code}" in catalog, (locale, code)


async def test_the_overview_counts_only_the_sharers_own_visits(
        client, make_user, make_room, services: Services):
    # given two sharers' links to one room, each followed by its own visitors
    host, sharer, other = await make_user("host"), await make_user(), await make_user()
    room = await make_room(host, live=True)
    mine = await share_link(client, sharer, "room", room["id"])
    theirs = await share_link(client, other, "room", room["id"])
    await follow(client, await make_user(), mine["code"])
    for _ in range(2):
        await follow(client, await make_user(), theirs["code"])

    # when the sharer opens their overview
    with statements_seen(services) as statements:
        overview = (await client.get("/api/me/shares", headers=sharer.headers)).json()

    # then it counts their link's visit, and the count reads their links' visits only, not
    # every visit of the platform grouped by link
    assert [(lk["id"], lk["visits"]) for lk in overview["links"]] == [(mine["id"], 1)]
    [counting] = [s for s in statements if "FROM share_visits" in s]
    visits_part = counting[counting.index("FROM share_visits"):]
    assert "sharer_id" in visits_part[:visits_part.index("GROUP BY")]
