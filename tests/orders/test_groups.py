"""Group buys (拼团) over the API with real PostgreSQL and Redis: a deal's units come from the
product's stock, groups open, fill, form or fail, payments are counted on the group's row or
refunded once, every refusal has its own code and changes nothing, and the counters always
add up (`units = returned + available + held + sold`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select, update

from core.context import Services
from live.models import Product
from orders import groups, order_moves
from orders.group_models import Group
from orders.models import Order, Payment
from tests.conftest import MakeUser, capture_news
from tests.orders.conftest import MakeDeal
from tests.orders.group_helpers import (
    check,
    join,
    joined,
    named,
    open_group,
    opened,
    past_deadline,
    refunds_by_order,
    state,
)
from tests.orders.regular_helpers import deliver, pay, queue_payment


async def _product_stock(services: Services, product_id: int) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(select(Product.stock).where(Product.id == product_id))
                   or 0)


@pytest.mark.redis6
async def test_a_group_forms_when_its_members_have_paid(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    # Given a deal of 9 units in groups of 3, taken from a product with 50 in stock
    deal = await make_deal(size=3, units=9)
    assert await _product_stock(services, deal.product["id"]) == 41
    assert (deal.deal["available"], deal.deal["held"], deal.deal["sold"]) == (9, 0, 0)
    alice, bob, carol, dave = [await make_user(name=n) for n in ("Alice", "Bob", "Carol", "Dave")]

    # When Alice opens a group and pays, and Bob and Carol join and pay
    async with capture_news(services) as published:
        group_id, alice_order = await opened(client, deal.id, alice)
        checked = await check(services, deal.id)
        assert (checked.redis.available, checked.redis.held, checked.redis.sold) == (6, 3, 0)  # type: ignore[union-attr]
        assert await pay(client, services, alice_order) == "paid"
        bob_order = await joined(client, group_id, bob)
        carol_order = await joined(client, group_id, carol)
        # a fourth buyer finds every slot taken
        refused = await join(client, group_id, dave)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "group_full"
        # the room heard the joins (told per burst, off the requests): every slot taken
        await groups.JOINS.flush()
        joins = [e["data"]["group"]["taken"] for e in published
                 if e["type"] == "group" and e["data"].get("action") == "GroupJoined"]
        assert joins and joins[-1] == 3
        assert await pay(client, services, bob_order) == "paid"
        progress = (await client.get(f"/api/groups/{group_id}")).json()
        assert (progress["paid_count"], progress["taken"], progress["size"]) == (2, 3, 3)
        assert [m["display_name"] for m in progress["members"]] == ["Alice", "Bob", "Carol"]
        assert [m["state"] for m in progress["members"]] == ["paid", "paid", "paying"]
        assert await pay(client, services, carol_order) == "paid"

    # Then the group formed, its three orders are paid and its units sold
    group = (await client.get(f"/api/groups/{group_id}")).json()
    assert (group["status"], group["paid_count"]) == ("formed", 3)
    checked = await check(services, deal.id)
    assert (checked.redis.available, checked.redis.held, checked.redis.sold) == (6, 0, 3)  # type: ignore[union-attr]
    order = (await client.get(f"/api/orders/{carol_order}", headers=carol.headers)).json()
    assert (order["status"], order["kind"], order["group_id"]) == ("paid", "group", group_id)
    # The room heard every step's exact progress, and each member that it formed
    room_news = [e["data"]["group"]["paid_count"] for e in published
                 if e["type"] == "group" and "room_id" in e and "group" in e["data"]]
    assert room_news[-1] == 3 and 1 in room_news and 2 in room_news
    told = {e["user_id"] for e in published if e["type"] == "group" and "user_id" in e}
    assert told == {alice.id, bob.id, carol.id}


async def test_refusals_have_their_own_codes_and_change_nothing(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    deal = await make_deal(size=3, units=4)
    alice, bob = await named(make_user, "Alice", "Bob")
    group_id, _ = await opened(client, deal.id, alice)
    before = await state(services, deal.id)

    # Joining one's own group twice, the host joining, opening past the deal's units
    again = await join(client, group_id, alice)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_in_group")
    assert again.json()["error"]["field"] == "group_id"
    host = await join(client, group_id, deal.host)
    assert (host.status_code, host.json()["error"]["code"]) == (403, "host_cannot_join")
    sold_out = await open_group(client, deal.id, bob)
    assert (sold_out.status_code, sold_out.json()["error"]["code"]) == (409, "deal_sold_out")
    missing = await join(client, 999_999, bob)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "group_not_found")
    bad = await client.post(f"/api/rooms/{deal.room['id']}/group-deals", json={
        "product_id": deal.product["id"], "price_minor": 100, "group_size": 11,
        "open_seconds": 600, "units": 22}, headers=deal.host.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "group_size")
    assert await state(services, deal.id) == before

    # A group whose time is up, then failed
    await past_deadline(services, group_id)
    late = await join(client, group_id, bob)
    assert (late.status_code, late.json()["error"]["code"]) == (410, "group_expired")
    assert await groups.fail_expired_groups(services) == [group_id]
    after_fail = await state(services, deal.id)
    failed = await join(client, group_id, bob)
    assert (failed.status_code, failed.json()["error"]["code"]) == (409, "group_failed")
    assert await state(services, deal.id) == after_fail


@pytest.mark.redis6
async def test_a_group_past_its_deadline_fails_and_refunds_each_paid_member_once(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    # Given a group of 3 with Alice paid, Bob paying (his payment in flight) and a slot free
    deal = await make_deal(size=3, units=6)
    alice, bob = await named(make_user, "Alice", "Bob")
    group_id, alice_order = await opened(client, deal.id, alice)
    assert await pay(client, services, alice_order) == "paid"
    bob_order = await joined(client, group_id, bob)
    bob_payment = await queue_payment(services, bob_order)

    # When its deadline passes and the sweep runs (twice: a second run finds nothing)
    await past_deadline(services, group_id)
    async with capture_news(services) as published:
        assert await groups.fail_expired_groups(services) == [group_id]
    assert await groups.fail_expired_groups(services) == []

    # Then Alice's order is refunded once through the outbox, Bob's cancelled, and every unit
    # is back in the deal
    async with services.db.session() as session:
        statuses = dict((await session.execute(select(Order.id, Order.status).where(
            Order.group_id == group_id))).all())
        group = await session.get(Group, group_id)
    assert statuses == {alice_order: "refunded", bob_order: "cancelled"}
    assert group is not None and (group.status, group.fail_reason) == ("failed", "expired")
    assert await refunds_by_order(services) == {alice_order: 1}
    checked = await check(services, deal.id)
    assert (checked.redis.available, checked.redis.held, checked.redis.sold) == (6, 0, 0)  # type: ignore[union-attr]
    # Each member hears it failed, and whether they were refunded
    told = {e["user_id"]: e["data"]["refunded"] for e in published
            if e["type"] == "group" and "user_id" in e}
    assert told == {alice.id: True}  # Bob's order was cancelled unpaid: he is no member now
    # Bob's payment lands late: refunded, never a member
    assert await deliver(client, services, bob_payment) == "refunded_order_cancelled"
    assert await refunds_by_order(services) == {alice_order: 1, bob_order: 1}
    assert (await client.get(f"/api/groups/{group_id}")).json()["paid_count"] == 1
    await check(services, deal.id)


async def test_two_payments_for_the_last_slot_make_one_member_and_one_refund(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    # Given a group of 2 with Alice paid, and (Redis having lost Bob's hold) both Bob and Carol
    # holding an order for the one slot left
    deal = await make_deal(size=2, units=4)
    alice, bob, carol = await named(make_user, "Alice", "Bob", "Carol")
    group_id, alice_order = await opened(client, deal.id, alice)
    assert await pay(client, services, alice_order) == "paid"
    bob_order = await joined(client, group_id, bob)
    from orders import group_stock
    dk = group_stock.DealKeys.of(services.keys, deal.id)
    await services.redis.hdel(dk.members(group_id), str(bob.id))
    await services.redis.hincrby(dk.group(group_id), "taken", -1)
    carol_order = await joined(client, group_id, carol)

    # When both pay at once
    events = [await queue_payment(services, bob_order), await queue_payment(services, carol_order)]
    outcomes = await asyncio.gather(*(deliver(client, services, e) for e in events))

    # Then one became the member and the other's payment is refunded: never 3 of 2
    assert sorted(outcomes) == ["paid", "refunded_group_closed"]
    group = (await client.get(f"/api/groups/{group_id}")).json()
    assert (group["status"], group["paid_count"]) == ("formed", 2)
    async with services.db.session() as session:
        paid = list(await session.scalars(select(Order.id).where(
            Order.group_id == group_id, Order.status == "paid")))
    assert len(paid) == 2
    loser = bob_order if carol_order in paid else carol_order
    assert await refunds_by_order(services) == {loser: 1}


@pytest.mark.redis6
async def test_an_unpaid_slot_expires_and_frees(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    deal = await make_deal(size=2, units=2)
    alice, bob, carol = await named(make_user, "Alice", "Bob", "Carol")
    group_id, _ = await opened(client, deal.id, alice)
    bob_order = await joined(client, group_id, bob)
    assert (await join(client, group_id, carol)).json()["error"]["code"] == "group_full"

    # When Bob's hold runs out unpaid
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == bob_order)
                              .values(hold_expires_at=Order.created_at))
    assert await order_moves.expire_due_orders(services) == [bob_order]

    # Then his slot is free for Carol, and Bob may come back after it went
    await check(services, deal.id)
    carol_order = await joined(client, group_id, carol)
    assert (await join(client, group_id, bob)).json()["error"]["code"] == "group_full"
    assert await deliver(client, services, await queue_payment(services, carol_order)) == "paid"
    await check(services, deal.id)


@pytest.mark.redis6
async def test_an_ended_deal_settles_its_unsold_units_back_to_the_product_once(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    # Given a deal of 6 units (product at 44), one formed group of 2 and one open group
    deal = await make_deal(size=2, units=6)
    ops = await make_user("ops")
    alice, bob, carol = await named(make_user, "Alice", "Bob", "Carol")
    formed, alice_order = await opened(client, deal.id, alice)
    bob_order = await joined(client, formed, bob)
    for order_id in (alice_order, bob_order):
        assert await pay(client, services, order_id) == "paid"
    open_one, carol_order = await opened(client, deal.id, carol)
    assert await pay(client, services, carol_order) == "paid"

    # When the host ends the deal, it does not settle while a group is open
    ended = await client.post(f"/api/group-deals/{deal.id}/end", headers=deal.host.headers)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert (await open_group(client, deal.id, carol)).json()["error"]["code"] == "deal_ended"
    assert await _product_stock(services, deal.product["id"]) == 44
    # An open group's paid member is refunded by its failure, not by hand; a formed group's
    # member can be (the unit goes back to the deal, not yet settled)
    refused = await client.post(f"/api/orders/{carol_order}/refund", headers=ops.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "group_still_open")
    refunded = await client.post(f"/api/orders/{alice_order}/refund", headers=ops.headers)
    assert refunded.status_code == 200, refunded.text
    await check(services, deal.id)
    # Then once the open group fails, the unsold units go back: 6 - 1 sold
    await past_deadline(services, open_one)
    await groups.fail_expired_groups(services)
    assert await refunds_by_order(services) == {alice_order: 1, carol_order: 1}
    assert await _product_stock(services, deal.product["id"]) == 49
    assert await groups.settle_ended_deals(services) == []
    # A refund after settlement sends its unit to the product directly
    refunded = await client.post(f"/api/orders/{bob_order}/refund", headers=ops.headers)
    assert refunded.status_code == 200, refunded.text
    assert await _product_stock(services, deal.product["id"]) == 50
    await check(services, deal.id)
    async with services.db.session() as session:
        assert await session.scalar(select(Payment.status).where(
            Payment.order_id == bob_order)) == "refunded"


async def test_a_group_share_link_leads_to_the_group_page(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    deal = await make_deal(size=2, units=2)
    alice = await make_user(name="Alice")
    group_id, _ = await opened(client, deal.id, alice)
    code = (await client.get(f"/api/groups/{group_id}")).json()["code"]

    issued = await client.post("/api/shares", json={"kind": "group", "id": group_id},
                               headers=alice.headers)
    assert issued.status_code in (200, 201), issued.text
    visit = await client.get(issued.json()["path"])
    assert visit.status_code == 303 and visit.headers["location"] == f"/g/{code}"
    page = await client.get(f"/g/{code}")
    assert page.status_code == 200 and "Alice" in page.text


async def test_a_live_room_coupon_comes_off_the_group_price_and_a_failed_group_gives_it_back(
        client: httpx.AsyncClient, services: Services, make_user: MakeUser,
        make_deal: MakeDeal) -> None:
    # given a deal at 15.00 and a coupon of 3.00 off dropped into its room, claimed by Alice
    deal = await make_deal(size=2, units=4)
    other = await make_deal(size=2, units=2)
    alice = await make_user(name="Alice")
    dropped = await client.post(f"/api/rooms/{deal.room['id']}/coupons", json={
        "kind": "amount", "amount_off_minor": 300, "currency": "CNY", "quantity": 5,
        "valid_seconds": 3600}, headers=deal.host.headers)
    assert dropped.status_code == 201, dropped.text
    claim = (await client.post(f"/api/coupons/{dropped.json()['id']}/claim",
                               headers=alice.headers)).json()["claim_id"]

    # a claim of another room's coupon is refused, and nothing changes
    before = await state(services, other.id)
    refused = await client.post(f"/api/group-deals/{other.id}/groups",
                                json={"coupon_claim_id": claim}, headers=alice.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "coupon_not_for_this_room")
    assert await state(services, other.id) == before

    # when Alice opens a group with it, she pays 12.00
    opened_reply = await client.post(f"/api/group-deals/{deal.id}/groups",
                                     json={"coupon_claim_id": claim}, headers=alice.headers)
    assert opened_reply.status_code == 201, opened_reply.text
    order = opened_reply.json()["order"]
    assert order["amount_minor"] == 1200
    assert await pay(client, services, order["id"]) == "paid"

    # then the group fails: she is refunded 12.00 and the coupon is hers to use again
    group_id = opened_reply.json()["group"]["id"]
    await past_deadline(services, group_id)
    assert await groups.fail_expired_groups(services) == [group_id]
    async with services.db.session() as session:
        refunded = await session.scalar(select(Payment.amount_minor).where(
            Payment.order_id == order["id"], Payment.status == "refunded"))
    assert refunded == 1200
    coupons_now = (await client.get(f"/api/rooms/{deal.room['id']}/coupons",
                                    headers=alice.headers)).json()["coupons"]
    assert coupons_now[0]["claim"] == {"id": claim, "used": False, "order_id": None}
    await check(services, deal.id)
