"""A variant sells at its own price, else its product's: one rule (`orders.variants.
unit_price_minor`) for a buy, a cart, the amount a coupon is checked against and the variants'
view."""

from __future__ import annotations

from orders.models import ProductVariant
from orders.variants import unit_price_minor, variant_view


def test_a_variant_sells_at_its_own_price_else_its_products() -> None:
    own = ProductVariant(id=1, product_id=9, options={"size": "L"}, label="L", price_minor=2900,
                         stock=3, active=True)
    plain = ProductVariant(id=2, product_id=9, options={"size": "S"}, label="S",
                           price_minor=None, stock=3, active=True)
    free = ProductVariant(id=3, product_id=9, options={"size": "XS"}, label="XS", price_minor=0,
                          stock=3, active=True)

    assert unit_price_minor(own, 2500) == 2900
    assert unit_price_minor(plain, 2500) == 2500
    assert unit_price_minor(free, 2500) == 0  # a price of 0 is a price, not "none"
    assert [variant_view(v, 2500, None)["price_minor"] for v in (own, plain)] == [2900, 2500]
