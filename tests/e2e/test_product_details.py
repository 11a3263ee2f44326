"""The live room's product details when the websocket's lineup leaves descriptions out."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.conftest import Api, Pages


async def test_a_product_added_after_the_page_loaded_shows_its_description(
        api: Api, pages: Pages) -> None:
    # given a viewer watching a live room
    host = await api.signup("Mia", role="host")
    scarf = await api.product(host, title="Silk scarf", price_minor=1999, currency="USD", stock=50)
    room = await api.room(host, [scarf], live=True, title="Friday vintage drop")
    watch = await pages.open(f"/rooms/{room['id']}", await api.signup("Leo"))
    await expect(watch.get_by_test_id("connection")).to_have_attribute("data-state", "open")

    # when the host adds a product with a description to the lineup (a lineup event,
    # whose entries carry no descriptions)
    tote = await api.product(host, title="Leather tote", price_minor=12900, currency="USD",
                             stock=4, description="Full-grain leather.\nMade in Florence.")
    await api.call("PUT", f"/api/rooms/{room['id']}/lineup", host,
                   json={"product_ids": [scarf["id"], tote["id"]]})
    lineup = watch.get_by_test_id("viewer-lineup")
    await lineup.get_by_role("button", name="Leather tote: details").click()

    # then its details show the description, fetched from the room's lineup
    dialog = watch.get_by_test_id("product-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Made in Florence.")
    await expect(dialog).to_contain_text("Only 4 left")
