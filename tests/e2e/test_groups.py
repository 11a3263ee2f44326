"""Group buys in the browser: Alice opens a group from the live room and pays on the sandbox
gateway (the signed webhook delivered by a real Celery worker) and sees "1 of 2 joined"; Bruno,
in another browser, follows Alice's share link to the group's page, joins and pays, and both
see the group formed. A group whose time runs out fails, and its paying member sees it failed
and refunded."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import func, update

from core.context import Services
from orders import groups
from orders.group_models import Group
from tests.e2e.conftest import PAYMENT_TIMEOUT_MS, Api, Pages, connected, screenshot
from tests.e2e.test_flash_sale import pinned_show
from tests.orders.group_helpers import refunds_by_order

pytestmark = pytest.mark.browser


async def _pay_in_sandbox(page: Any) -> None:
    await page.wait_for_url(re.compile(r"/sandbox/pay/\d+\?sig="))
    await page.get_by_role("button", name="Pay", exact=True).click()
    # The gateway's page goes back to the group's page by itself.
    await page.wait_for_url(re.compile(r"/g/[\w-]+$"), timeout=PAYMENT_TIMEOUT_MS)


async def test_a_group_opens_in_the_room_fills_through_its_share_link_and_forms(
        api: Api, pages: Pages, services: Services, webhook_worker) -> None:  # type: ignore[no-untyped-def]
    # given a live room with the scarf pinned, whose host offers a group deal on it from the
    # host panel: $15.00 in groups of 2, open 10 minutes, 4 units
    host, room, scarf = await pinned_show(api)
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))
    form = panel.get_by_test_id("group-deal-form")
    await expect(form.get_by_test_id("group-deal-product")).to_have_value(str(scarf["id"]))
    await form.get_by_test_id("group-deal-price").fill("15.00")
    await form.get_by_test_id("group-deal-size").fill("2")
    await form.get_by_test_id("group-deal-minutes").fill("10")
    await form.get_by_test_id("group-deal-units").fill("4")
    await form.get_by_test_id("group-deal-offer").click()
    await expect(panel.get_by_test_id("host-group-deal")).to_contain_text(
        "Silk scarf: $15.00, groups of 2 (4 units free, 0 sold)")
    alice, bruno, carol = (await api.signup("Alice"), await api.signup("Bruno"),
                           await api.signup("Carol"))

    # when Alice opens a group from the room and pays in the sandbox
    watch = await connected(await pages.open(f"/rooms/{room['id']}", alice))
    card = watch.get_by_test_id("room-groups")
    await expect(card.get_by_test_id("group-deal")).to_contain_text("$15.00")
    await card.get_by_test_id("group-open").click()
    await _pay_in_sandbox(watch)

    # then her group's page says 1 of 2 joined, with the time left ticking
    progress = watch.get_by_test_id("group-progress")
    await expect(progress).to_have_text(re.compile(r"^1 of 2 joined, \d\d:\d\d left$"),
                                        timeout=PAYMENT_TIMEOUT_MS)
    await expect(watch.get_by_test_id("group-member")).to_have_count(1)
    await screenshot(watch, "group-one-of-two")

    # and when she shares it, Bruno (another browser) follows the link, joins and pays
    await watch.get_by_test_id("group-share").click()
    link = watch.get_by_test_id("group-share-link")
    await expect(link).to_have_value(re.compile(r"/s/g\d+\.\d+\.\d+\.[\w-]+$"))
    url = await link.input_value()
    friend = await pages.open(url[url.index("/s/"):], bruno)
    await expect(friend).to_have_url(re.compile(r"/g/[\w-]+$"))
    await expect(friend.get_by_test_id("group-product")).to_have_text("Silk scarf")
    await expect(friend.get_by_test_id("group-members")).to_contain_text("Alice")
    await friend.get_by_test_id("group-join").click()
    await _pay_in_sandbox(friend)

    # then both see the group formed
    for page in (friend, watch):
        await expect(page.get_by_test_id("group-card")).to_have_attribute(
            "data-status", "formed", timeout=PAYMENT_TIMEOUT_MS)
        await expect(page.get_by_test_id("group-progress")).to_have_text(
            "2 of 2 joined: the group formed")
    await expect(friend.get_by_test_id("group-outcome")).to_have_text(
        "The group formed! Your order goes ahead.")
    await screenshot(friend, "group-formed")
    chinese = await pages.open(friend.url.replace(pages.server.url, ""), bruno, locale="zh-CN")
    await expect(chinese.get_by_test_id("group-progress")).to_have_text(
        "\u5df2\u62fc 2/2 \u4eba\uff1a\u62fc\u56e2\u6210\u529f")

    # when Carol opens another group, pays, and its time runs out with no one else
    mine = await connected(await pages.open(f"/rooms/{room['id']}", carol))
    await mine.get_by_test_id("room-groups").get_by_test_id("group-open").click()
    await _pay_in_sandbox(mine)
    await expect(mine.get_by_test_id("group-progress")).to_have_text(
        re.compile(r"^1 of 2 joined"), timeout=PAYMENT_TIMEOUT_MS)
    code = mine.url.rsplit("/", 1)[1]
    async with services.db.transaction() as session:
        await session.execute(update(Group).where(Group.code == code)
                              .values(deadline=func.now()))
    assert len(await groups.fail_expired_groups(services)) == 1

    # then her page says it failed and her payment was refunded, and the refund is queued once
    await expect(mine.get_by_test_id("group-card")).to_have_attribute("data-status", "failed")
    await expect(mine.get_by_test_id("group-outcome")).to_have_text(
        "This group failed: your payment was refunded in full.")
    await expect(mine.get_by_test_id("group-member")).to_have_attribute("data-state", "refunded")
    assert list((await refunds_by_order(services)).values()) == [1]
    await screenshot(mine, "group-failed-refunded")
