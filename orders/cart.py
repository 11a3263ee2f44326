"""A buyer's cart in a live room: variants and quantities, kept in Redis (a hash per buyer and
room, under the buyer's hash tag) until checkout turns every line into one regular-price order
(`orders.regular.place_order`, all lines held at once or none).

The cart holds no stock: it is a list of wishes. Its lines are shown, and checked out, in
variant id order, so an error naming `lines[i]` names the line the buyer sees at that place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.context import Services
from core.errors import ValidationError
from orders import variant_stock
from orders.errors import VariantNotFound
from orders.models import ProductVariant
from orders.regular import LineIn, TermsOf, cart_field, place_order
from orders.variants import unit_price_minor

# A cart left alone is forgotten after a week (the show is long over).
CART_TTL_SECONDS = 7 * 24 * 3600


def cart_key(svc: Services, user_id: int, room_id: int) -> str:
    return svc.keys.user(user_id, "cart", room_id)


async def cart_lines(svc: Services, user_id: int, room_id: int) -> list[LineIn]:
    raw = await svc.redis.hgetall(cart_key(svc, user_id, room_id))
    return sorted((LineIn(int(k), int(v)) for k, v in raw.items()), key=lambda line: line.variant_id)


async def set_line(svc: Services, user_id: int, room_id: int, variant_id: int, quantity: int,
                   terms_of: TermsOf) -> None:
    """Put `quantity` units of a variant in the cart (0 takes the line out). The variant must
    exist and be of a product in the room's lineup, and the room live."""
    maximum = svc.settings.regular_max_quantity
    if not 0 <= quantity <= maximum:
        raise ValidationError([{"field": "quantity", "message": f"Must be 0 to {maximum}.",
                                 "code": "quantity_range", "min": "0", "max": str(maximum)}])
    key = cart_key(svc, user_id, room_id)
    if quantity == 0:
        await svc.redis.hdel(key, str(variant_id))
        return
    async with svc.db.session() as session:
        variant = await session.get(ProductVariant, variant_id)
        if variant is None or not variant.active:
            raise VariantNotFound("no such variant", field="variant_id")
        terms = await terms_of(session, [variant.product_id])
    if variant.product_id not in terms.products or variant.host_id != terms.host_id:
        raise ValidationError([{"field": "variant_id",
                                "message": "the product is not in this room's lineup",
                                "code": "not_in_lineup"}])
    if not await svc.redis.hexists(key, str(variant_id)) and \
            await svc.redis.hlen(key) >= svc.settings.cart_max_lines:
        raise ValidationError([{"field": "variant_id", "message":
                                f"a cart has at most {svc.settings.cart_max_lines} lines",
                                "code": "too_many_lines",
                                "count": str(svc.settings.cart_max_lines)}])
    await svc.redis.hset(key, str(variant_id), quantity)
    await svc.redis.expire(key, CART_TTL_SECONDS)


async def cart_view(svc: Services, user_id: int, room_id: int,
                    terms_of: TermsOf) -> dict[str, Any]:
    lines = await cart_lines(svc, user_id, room_id)
    out: list[dict[str, Any]] = []
    currency: str | None = None
    if lines:
        async with svc.db.session() as session:
            variants = {v.id: v for v in await session.scalars(select(ProductVariant).where(
                ProductVariant.id.in_([line.variant_id for line in lines])))}
            terms = await terms_of(session, sorted({v.product_id for v in variants.values()}))
        for line in lines:
            variant = variants.get(line.variant_id)
            product = terms.products.get(variant.product_id) if variant else None
            if variant is None or product is None:
                continue  # gone from the lineup since: checkout would refuse it by name
            unit = unit_price_minor(variant, product.price_minor)
            counts = await variant_stock.read_counts(svc.redis, variant_stock.variant_keys(
                svc.keys, variant.host_id, variant.id))
            currency = currency or product.currency
            out.append({"variant_id": variant.id, "product_id": product.id,
                        "title": product.title, "options": variant.options,
                        "quantity": line.quantity, "unit_price_minor": unit,
                        "amount_minor": unit * line.quantity,
                        "remaining": counts.available if counts else None})
    return {"room_id": room_id, "lines": out,
            "total_minor": sum(line["amount_minor"] for line in out), "currency": currency}


async def checkout(svc: Services, user_id: int, room_id: int, idempotency_key: str | None,
                   terms_of: TermsOf, *, coupon_claim_id: int | None = None) -> tuple[bytes, bool]:
    """One order for every line of the cart, one payment; the cart is emptied once the order
    is committed. A repeat of the key returns the same order (the cart is empty by then). A
    live-room coupon claim, if given, comes off the amount paid (`orders.coupons`)."""
    lines = await cart_lines(svc, user_id, room_id)
    reply, replayed = await place_order(svc, user_id, lines, idempotency_key,
                                        terms_of, field_of=cart_field,
                                        coupon_claim_id=coupon_claim_id)
    if not replayed:
        await svc.redis.delete(cart_key(svc, user_id, room_id))
    return reply, replayed
