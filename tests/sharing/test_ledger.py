"""The sharers' entries in the commission ledger: who earns on a paid order (the sharer whose
attribution stood when it was created; with depth 2 also the one who brought that sharer),
at which rate, and the rules each test tries to break: depth, one's own purchase, cycles,
rewards for recruiting, a refund after settlement, and sums per order within the rates."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.context import Services
from core.settings import SettingsError, ShareSettings, load_settings
from orders import commissions
from orders.models import CommissionEntry, Order
from sharing.models import ShareAttribution
from tests.orders.conftest import buy
from tests.orders.regular_helpers import checkout, fill_cart, open_shop, with_address
from tests.sharing.conftest import entries, follow, paid_order, pay, share_link


def _sharer_rows(rows: list[CommissionEntry]) -> list[tuple[Any, ...]]:
    return [(e.party, e.level, e.host_id, e.kind, e.status, e.rate_bp, e.amount_minor)
            for e in rows if e.party == "sharer"]


async def test_an_order_paid_through_a_share_link_earns_the_sharer_the_products_rate(
        client, make_user, make_sale, services: Services):
    # given a product sharing 7.5% with a 10% host commission, and A's link to its room
    host, sharer, buyer = await make_user("host"), await make_user(), await make_user()
    setup = await make_sale(host, share_rate=750, commission_rate=1000, price_minor=1999)
    link = await share_link(client, sharer, "room", setup["room"]["id"])
    # when B follows it, buys two units and pays
    assert (await follow(client, buyer, link["code"])).json()["attributed"] is True
    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k", 2)

    # then A has a pending entry: 7.5% of 39.98, rounded down; the host's is untouched
    rows = await entries(services, order["id"])
    assert [(e.party, e.level, e.host_id, e.rate_bp, e.amount_minor, e.status)
            for e in rows] == [("host", 0, host.id, 1000, 400, "pending"),
                               ("sharer", 1, sharer.id, 750, 299, "pending")]
    assert rows[1].buyer_id == buyer.id and rows[1].base_minor == 3998
    # and the order records the attribution, and tells its buyer who was credited and how much
    view = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
    assert view["share"]["credited"] is True and view["share"]["total_minor"] == 299
    assert view["share"]["entries"][0]["sharer_name"] == sharer.display_name
    async with services.db.session() as session:
        assert await session.scalar(select(Order.share_attribution_id)
                                    .where(Order.id == order["id"])) is not None


async def test_an_order_without_an_attribution_credits_nobody_and_says_so(
        client, make_user, make_sale, services: Services):
    host, buyer = await make_user("host"), await make_user()
    setup = await make_sale(host)
    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k")

    view = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()

    assert view["share"] == {"credited": False, "total_minor": 0, "entries": []}
    assert _sharer_rows(await entries(services)) == []


async def test_the_attribution_that_counts_is_the_one_standing_when_the_order_was_created(
        client, make_user, make_sale, services: Services):
    # given B bought before following A's link, and pays after following it
    host, sharer, buyer = await make_user("host"), await make_user(), await make_user()
    setup = await make_sale(host)
    order = (await buy(client, buyer, setup["sale"]["id"], "k")).json()["order"]
    link = await share_link(client, sharer, "room", setup["room"]["id"])
    await follow(client, buyer, link["code"])

    assert await pay(client, services, order["id"]) == "paid"

    # then A earns nothing on that order: it was not made through the link
    assert _sharer_rows(await entries(services)) == []


async def test_the_last_click_wins(client, make_user, make_sale, services: Services):
    host, first, last, buyer = (await make_user("host"), await make_user(),
                                await make_user(), await make_user())
    setup = await make_sale(host)
    for sharer in (first, last):
        link = await share_link(client, sharer, "room", setup["room"]["id"])
        await follow(client, buyer, link["code"])

    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k")

    assert [row[2] for row in _sharer_rows(await entries(services, order["id"]))] == [last.id]


async def test_an_attribution_past_its_window_credits_nobody(
        client, make_user, make_sale, services: Services):
    host, sharer, buyer = await make_user("host"), await make_user(), await make_user()
    setup = await make_sale(host)
    link = await share_link(client, sharer, "room", setup["room"]["id"])
    await follow(client, buyer, link["code"])
    # the click was 7 days and a minute ago (the window is 7 days)
    async with services.db.transaction() as session:
        await session.execute(update(ShareAttribution).values(
            clicked_at=func.now() - timedelta(days=7, minutes=1),
            expires_at=func.now() - timedelta(minutes=1)))

    await paid_order(client, services, buyer, setup["sale"]["id"], "k")

    assert _sharer_rows(await entries(services)) == []


# Self-purchase ---------------------------------------------------------------------------------


async def test_no_commission_on_ones_own_purchase(
        client, make_user, make_sale, services: Services):
    # given A follows their own link (nothing is attributed) and buys
    host, sharer = await make_user("host"), await make_user()
    setup = await make_sale(host)
    link = await share_link(client, sharer, "room", setup["room"]["id"])
    visit = (await follow(client, sharer, link["code"])).json()
    await paid_order(client, services, sharer, setup["sale"]["id"], "k")

    # then nothing is recorded for A, and the ledger refuses an entry saying otherwise
    assert visit == {"path": f"/rooms/{setup['room']['id']}", "counted": False,
                     "attributed": False}
    assert _sharer_rows(await entries(services)) == []
    order_id = (await entries(services))[0].order_id
    with pytest.raises(IntegrityError, match="ck_commission_entries_not_own_purchase"):
        await _insert_entry(services, order_id, earner=sharer.id, buyer=sharer.id, level=1)
    assert commissions.plan_sharers(sharer.id, sharer.id, None, 2) == ()


async def _insert_entry(services: Services, order_id: int, *, earner: int, buyer: int,
                        level: int, via: int | None = None, party: str = "sharer") -> None:
    async with services.db.transaction() as session:
        room_id = await session.scalar(select(Order.room_id).where(Order.id == order_id))
        await session.execute(insert(CommissionEntry).values(
            host_id=earner, order_id=order_id, room_id=room_id, kind="accrual", party=party,
            level=level, buyer_id=buyer, via_id=via, base_minor=100, rate_bp=100,
            amount_minor=1, currency="USD", status="pending"))


# Depth -----------------------------------------------------------------------------------------


async def _chain(client, make_user, make_sale) -> dict[str, Any]:
    """A brought C (C's first attribution is A's link); B then buys through C's link."""
    host, a, c, b = (await make_user("host"), await make_user(), await make_user(),
                     await make_user())
    setup = await make_sale(host, share_rate=1000, commission_rate=1000)
    await follow(client, c, (await share_link(client, a, "room", setup["room"]["id"]))["code"])
    await follow(client, b, (await share_link(client, c, "room", setup["room"]["id"]))["code"])
    return {"host": host, "a": a, "b": b, "c": c, **setup}


async def test_depth_one_by_default_credits_only_the_sharer_whose_link_was_followed(
        client, make_user, make_sale, services: Services):
    chain = await _chain(client, make_user, make_sale)

    order = await paid_order(client, services, chain["b"], chain["sale"]["id"], "k")

    assert _sharer_rows(await entries(services, order["id"])) == [
        ("sharer", 1, chain["c"].id, "accrual", "pending", 1000, 150)]


async def test_depth_two_also_credits_who_brought_the_sharer_at_the_level_two_rate(
        client, make_user, make_sale, services: Services, share_rules):
    share_rules(max_depth=2, level2_rate_bp=200)
    chain = await _chain(client, make_user, make_sale)

    order = await paid_order(client, services, chain["b"], chain["sale"]["id"], "k")

    rows = await entries(services, order["id"])
    assert _sharer_rows(rows) == [("sharer", 1, chain["c"].id, "accrual", "pending", 1000, 150),
                                  ("sharer", 2, chain["a"].id, "accrual", "pending", 200, 30)]
    assert rows[2].via_id == chain["c"].id


async def test_never_deeper_than_two_whatever_the_chain_or_the_setting(
        client, make_user, make_sale, services: Services, share_rules, monkeypatch):
    # given a chain D brought A brought C, and B buys through C's link, at depth 2
    share_rules(max_depth=2)
    chain = await _chain(client, make_user, make_sale)
    d = await make_user()
    await follow(client, chain["a"], (await share_link(client, d, "room",
                                                       chain["room"]["id"]))["code"])

    order = await paid_order(client, services, chain["b"], chain["sale"]["id"], "k")

    # then two levels at most are credited (D, two steps above C, never)
    assert {row[2] for row in _sharer_rows(await entries(services, order["id"]))} == {
        chain["c"].id, chain["a"].id}
    # and neither the setting, the planner nor the table goes past 2
    monkeypatch.setenv("SHARE_MAX_DEPTH", "3")
    with pytest.raises(SettingsError, match="SHARE_MAX_DEPTH"):
        load_settings()
    assert len(commissions.plan_sharers(1, 2, 3, max_depth=5)) == 2
    with pytest.raises(IntegrityError, match="ck_commission_entries_depth"):
        await _insert_entry(services, order["id"], earner=d.id, buyer=chain["b"].id,
                            level=3)
    with pytest.raises(IntegrityError, match="ck_commission_entries_depth"):
        await _insert_entry(services, order["id"], earner=d.id, buyer=chain["b"].id,
                            level=1, party="host")


# Cycles ----------------------------------------------------------------------------------------


async def test_a_cycle_credits_nobody_twice_and_never_the_buyer(
        client, make_user, make_sale, services: Services, share_rules):
    # given A brought B and then B "brought" A (each one's first click is the other's link)
    share_rules(max_depth=2)
    host, a, b = await make_user("host"), await make_user(), await make_user()
    setup = await make_sale(host, share_rate=1000)
    a_link = await share_link(client, a, "room", setup["room"]["id"])
    b_link = await share_link(client, b, "room", setup["room"]["id"])
    await follow(client, b, a_link["code"])
    await follow(client, a, b_link["code"])

    # when A buys (through B's link, which stands for A)
    order = await paid_order(client, services, a, setup["sale"]["id"], "k")

    # then B earns level 1, and A (who brought B) is not paid on A's own purchase
    assert [(row[1], row[2]) for row in _sharer_rows(await entries(services, order["id"]))] \
        == [(1, b.id)]
    # and the ledger refuses a level-2 entry that closes the loop
    with pytest.raises(IntegrityError, match="ck_commission_entries_chain"):
        await _insert_entry(services, order["id"], earner=a.id, buyer=host.id, level=2, via=a.id)
    with pytest.raises(IntegrityError, match="ck_commission_entries_chain"):
        await _insert_entry(services, order["id"], earner=b.id, buyer=a.id, level=2, via=a.id)
    assert commissions.plan_sharers(a.id, b.id, a.id, 2) == ((1, b.id, None),)
    assert commissions.plan_sharers(a.id, b.id, b.id, 2) == ((1, b.id, None),)


# Recruiting ------------------------------------------------------------------------------------


async def test_recruiting_earns_nothing_only_purchases_do(
        client, make_user, make_sale, services: Services, share_rules):
    # given depth 2, and A's link followed by ten people, some of whom share in turn
    share_rules(max_depth=2)
    host, a = await make_user("host"), await make_user()
    setup = await make_sale(host)
    a_link = await share_link(client, a, "room", setup["room"]["id"])
    recruits = [await make_user() for _ in range(10)]
    for recruit in recruits:
        await follow(client, recruit, a_link["code"])
        await share_link(client, recruit, "room", setup["room"]["id"])
    # and a guest signs up through the link
    guest = await client.post(f"/api/shares/{a_link['code']}/visit")
    assert guest.cookies.get("ls_share")  # kept by the client's cookie jar
    signup = await client.post("/api/auth/signup", json={
        "email": "new@example.com", "password": "password123!", "display_name": "New",
        "role": "viewer"})
    assert signup.status_code == 201, signup.text
    client.cookies.clear()

    # then nobody has any entry: no purchase, no money
    assert await entries(services) == []
    overview = (await client.get("/api/me/shares", headers=a.headers)).json()
    assert overview["totals"] == {} and overview["entries"] == []
    assert overview["links"][0]["visits"] == 11
    # and an entry needs an order, so there is no way to record one for a sign-up
    async with services.db.session() as session:
        attributed = await session.scalar(select(func.count()).select_from(ShareAttribution)
                                          .where(ShareAttribution.sharer_id == a.id))
    assert attributed == 11


# Refunds ---------------------------------------------------------------------------------------


async def test_a_refund_before_settlement_voids_the_sharers_entry(
        client, make_user, make_sale, services: Services):
    host, sharer, buyer, ops = (await make_user("host"), await make_user(), await make_user(),
                                await make_user("ops"))
    setup = await make_sale(host, share_rate=1000)
    await follow(client, buyer, (await share_link(client, sharer, "room",
                                                  setup["room"]["id"]))["code"])
    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k")

    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)

    assert refunded.status_code == 200, refunded.text
    assert [(e.party, e.status) for e in await entries(services, order["id"])] == [
        ("host", "void"), ("sharer", "void")]
    view = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
    assert view["share"]["credited"] is True and view["share"]["total_minor"] == 0


async def test_a_refund_after_settlement_adds_a_negative_entry_for_each_sharer(
        client, make_user, make_sale, services: Services, share_rules):
    share_rules(max_depth=2, level2_rate_bp=100)
    chain = await _chain(client, make_user, make_sale)
    ops = await make_user("ops")
    order = await paid_order(client, services, chain["b"], chain["sale"]["id"], "k")
    completed = await client.post(f"/api/orders/{order['id']}/complete",
                                  headers=chain["host"].headers)
    assert completed.status_code == 200, completed.text
    async with services.db.session() as session:
        until = await session.scalar(select(func.max(CommissionEntry.frozen_until)))
    assert until is not None
    assert len(await commissions.settle_due(services, now=until)) == 3

    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)

    assert refunded.status_code == 200, refunded.text
    rows = await entries(services, order["id"])
    assert sorted((e.party, e.level, e.kind, e.status, e.amount_minor) for e in rows) == [
        ("host", 0, "accrual", "settled", 150), ("host", 0, "reversal", "settled", -150),
        ("sharer", 1, "accrual", "settled", 150), ("sharer", 1, "reversal", "settled", -150),
        ("sharer", 2, "accrual", "settled", 15), ("sharer", 2, "reversal", "settled", -15)]
    for sharer in (chain["a"], chain["c"]):
        totals = (await client.get("/api/me/shares", headers=sharer.headers)).json()["totals"]
        assert totals["USD"]["settled_minor"] == 0
    # a second refund hook adds nothing
    async with services.db.transaction() as session:
        assert await commissions.void_or_reverse(session, order["id"]) == "already_reversed"


# Sums per order --------------------------------------------------------------------------------


async def test_the_cap_and_the_hosts_share_bound_the_sharers_rate(
        client, make_user, make_sale, services: Services, share_rules):
    # given a product offering sharers 90% and a host commission of 95%, at depth 2
    share_rules(max_depth=2, rate_cap_bp=2000, level2_rate_bp=500)
    chain = await _chain(client, make_user, make_sale)
    patched = await client.patch(f"/api/products/{chain['product']['id']}",
                                 headers=chain["host"].headers, json={"share_rate_bp": 9000})
    assert patched.status_code == 200 and patched.json()["share_rate_bp"] == 9000

    order = (await buy(client, chain["b"], chain["sale"]["id"], "k")).json()["order"]
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order["id"])
                              .values(commission_rate_bp=9500))
    assert await pay(client, services, order["id"]) == "paid"

    # then the sharers get only what the host's 95% leaves: 5%, all to level 1 (level 2's
    # rate is 0, so it gets no entry)
    rows = await entries(services, order["id"])
    assert [(e.party, e.level, e.rate_bp, e.amount_minor) for e in rows] == [
        ("host", 0, 9500, 1425), ("sharer", 1, 500, 75)]
    assert sum(e.amount_minor for e in rows) <= 1500


def test_the_rates_and_amounts_of_an_order_never_exceed_what_was_configured_or_paid():
    # every host rate, product rate, cap and level-2 rate on a grid, and awkward amounts
    for host_bp, product_bp, cap_bp, level2_bp in itertools.product(
            (0, 1, 333, 5000, 9999, 10000), (None, 0, 1, 777, 5000, 10000),
            (0, 1, 2000, 10000), (0, 1, 100, 10000)):
        rules = ShareSettings(max_depth=2, default_rate_bp=500, rate_cap_bp=cap_bp,
                              level2_rate_bp=level2_bp)
        rates = commissions.share_rates_bp(host_bp, product_bp, rules, 2)
        assert sum(rates) <= cap_bp and host_bp + sum(rates) <= 10000
        assert all(rate >= 0 for rate in rates)
        for base in (0, 1, 3, 99, 1999, 10**6 + 7):
            total = commissions.commission_amount(base, host_bp) + sum(
                commissions.share_amount(base, rate) for rate in rates)
            assert total <= base


async def test_the_ledger_refuses_an_order_whose_entries_exceed_the_cap(
        client, make_user, make_sale, services: Services, share_rules):
    # given an order whose sharer entry was (somehow) written past the cap
    share_rules(rate_cap_bp=1000)
    host, buyer = await make_user("host"), await make_user()
    sharer = await make_user()
    setup = await make_sale(host)
    order = await paid_order(client, services, buyer, setup["sale"]["id"], "k")
    await _insert_entry(services, order["id"], earner=sharer.id, buyer=buyer.id, level=1)
    async with services.db.transaction() as session:
        await session.execute(update(CommissionEntry).where(CommissionEntry.party == "sharer")
                              .values(rate_bp=1500))

    # then the check every accrual ends with refuses it
    async with services.db.session() as session:
        with pytest.raises(commissions.LedgerRuleBroken):
            await commissions.check_order_sums(session, order["id"], 1500,
                                               services.settings.shares)


async def test_a_second_accrual_of_the_same_order_adds_no_sharer_entry(
        client, make_user, make_sale, services: Services, share_rules):
    # given a paid order that credited two sharers
    share_rules(max_depth=2)
    chain = await _chain(client, make_user, make_sale)
    order_view = await paid_order(client, services, chain["b"], chain["sale"]["id"], "k")
    async with services.db.session() as session:
        order = await session.get(Order, order_view["id"])
    assert order is not None

    # when the payment hook runs again (a redelivered webhook that got past the payment check)
    async with services.db.transaction() as session:
        again = await commissions.accrue(session, order, paid_minor=order.amount_minor,
                                         shares=services.settings.shares)

    # then nothing is added, and the sums still hold
    assert again is None
    assert [(e.party, e.level) for e in await entries(services, order.id)] == [
        ("host", 0), ("sharer", 1), ("sharer", 2)]
    async with services.db.session() as session:
        await commissions.check_order_sums(session, order.id, order.amount_minor,
                                           services.settings.shares)


async def test_a_cart_order_earns_the_sharer_each_products_rate_on_its_line_rounded_once(
        client, make_user, make_product, make_room, services: Services):
    # given a room whose shirt shares 10% and whose mug shares 2% (a 10% host commission), and
    # A's link to the room
    shop = await open_shop(client, make_user, make_product, make_room)
    for product, rate in ((shop.shirt, 1000), (shop.mug, 200)):
        patched = await client.patch(f"/api/products/{product['id']}", headers=shop.host.headers,
                                     json={"share_rate_bp": rate})
        assert patched.status_code == 200, patched.text
    sharer, buyer = await make_user(), await with_address(client, await make_user())
    link = await share_link(client, sharer, "room", shop.room["id"])
    assert (await follow(client, buyer, link["code"])).json()["attributed"] is True

    # when B checks out a shirt (25.00) and three mugs (24.00) in one order and pays
    await fill_cart(client, buyer, shop.room["id"],
                    [(shop.variant("S", "Blue"), 1), (shop.mug_variant["id"], 3)])
    response = await checkout(client, buyer, shop.room["id"])
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert await pay(client, services, order["id"]) == "paid"

    # then A earns each product's rate on its line: the weighted rate
    # (2500 x 1000 + 2400 x 200) div 4900 = 608 bp on the 49.00 paid, rounded down once
    rows = await entries(services, order["id"])
    assert [(e.party, e.rate_bp, e.base_minor, e.amount_minor) for e in rows] == [
        ("host", 1000, 4900, 490), ("sharer", 608, 4900, 297)]
    # and A's page names both products of the order, not its first line's alone
    overview = (await client.get("/api/me/shares", headers=sharer.headers)).json()
    [seen] = overview["orders"]
    in_line_order = list(dict.fromkeys(line["product_id"] for line in order["lines"]))
    assert sorted(in_line_order) == sorted([shop.shirt["id"], shop.mug["id"]])
    assert seen["product_ids"] == in_line_order
    titles = {shop.shirt["id"]: "Linen shirt", shop.mug["id"]: "Tea mug"}
    named = ", ".join(titles[product_id] for product_id in in_line_order)
    assert seen["product_title"] == named
    page = await client.get("/me/shares", headers=sharer.headers)
    assert named in page.text
