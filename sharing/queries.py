"""Reads behind the sharer's page (`GET /api/me/shares`, `/me/shares`): their links with
visits, orders and earnings, every ledger entry of theirs with its order, and the totals
by state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from live.models import Product, Room
from orders.commissions import Totals, share_rates_bp
from orders.models import CommissionEntry, CommissionKind, CommissionParty, Order, OrderLine
from sharing.actions import link_path
from sharing.codes import ShareCode, TargetKind, make_code
from sharing.models import ShareAttribution, ShareLink, ShareVisit


async def sharer_overview(session: AsyncSession, settings: Settings,
                          sharer_id: int) -> dict[str, Any]:
    visits = (select(ShareVisit.link_id, func.count().label("visits"))
              .join(ShareLink, ShareLink.id == ShareVisit.link_id)
              .where(ShareLink.sharer_id == sharer_id)
              .group_by(ShareVisit.link_id).subquery())
    link_orders = (select(ShareAttribution.link_id, func.count(Order.id).label("orders"))
                   .join(Order, Order.share_attribution_id == ShareAttribution.id)
                   .where(ShareAttribution.sharer_id == sharer_id)
                   .group_by(ShareAttribution.link_id).subquery())
    rows = (await session.execute(
        select(ShareLink, func.coalesce(visits.c.visits, 0),
               func.coalesce(link_orders.c.orders, 0), Room.title, Product.title,
               Product.share_rate_bp)
        .outerjoin(visits, visits.c.link_id == ShareLink.id)
        .outerjoin(link_orders, link_orders.c.link_id == ShareLink.id)
        .outerjoin(Room, (ShareLink.target_kind == TargetKind.ROOM.value)
                   & (Room.id == ShareLink.target_id))
        .outerjoin(Product, (ShareLink.target_kind == TargetKind.PRODUCT.value)
                   & (Product.id == ShareLink.target_id))
        .where(ShareLink.sharer_id == sharer_id).order_by(ShareLink.id.desc()))).all()
    secret = settings.secret_key.reveal()
    links = []
    for link, visit_count, order_count, room_title, product_title, product_rate in rows:
        code = make_code(secret, ShareCode(TargetKind(link.target_kind), link.target_id,
                                           sharer_id, int(link.issued_at.timestamp())))
        links.append({
            "id": link.id, "kind": link.target_kind, "target_id": link.target_id,
            "title": room_title or product_title, "code": code, "path": link_path(code),
            "visits": int(visit_count), "orders": int(order_count),
            # A product's link shows the rate its sharer earns before the host's share
            # (docs/social.md); a room's depends on the product bought.
            "rate_bp": (share_rates_bp(0, product_rate, settings.shares, 1)[0]
                        if link.target_kind == TargetKind.PRODUCT.value else None)})

    entries = (await session.execute(
        select(CommissionEntry, Order.status, Order.amount_minor, Order.product_id,
               Product.title)
        .join(Order, Order.id == CommissionEntry.order_id)
        .join(Product, Product.id == Order.product_id)
        .where(CommissionEntry.party == CommissionParty.SHARER.value,
               CommissionEntry.host_id == sharer_id)
        .order_by(CommissionEntry.id.desc()))).all()
    # A cart's order is several products, each earning its own rate: name them all, not the
    # order's first line alone.
    lines = (await session.execute(
        select(OrderLine.order_id, Product.id, Product.title)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id.in_({row[0].order_id for row in entries}))
        .order_by(OrderLine.order_id, OrderLine.id))).all() if entries else []
    products: dict[int, dict[int, str]] = {}
    for order_id, product_id, title in lines:
        products.setdefault(order_id, {})[product_id] = title
    totals: dict[str, Totals] = {}
    entry_views = []
    orders: dict[int, dict[str, Any]] = {}
    for entry, order_status, amount_minor, product_id, product_title in entries:
        titles = products.get(entry.order_id, {product_id: product_title})
        named = ", ".join(titles.values())
        totals.setdefault(entry.currency, Totals()).add(entry.status, entry.amount_minor)
        entry_views.append({**entry.public(), "product_title": named})
        order = orders.setdefault(entry.order_id, {
            "id": entry.order_id, "status": order_status, "amount_minor": amount_minor,
            "currency": entry.currency, "product_id": product_id,
            "product_ids": list(titles), "product_title": named,
            "level": entry.level, "earned_minor": 0, "entries": []})
        order["earned_minor"] += entry.amount_minor
        order["entries"].append(entry.id)
        if entry.kind == CommissionKind.ACCRUAL.value:
            order["earning_status"] = entry.status
    return {"links": links, "orders": list(orders.values()), "entries": entry_views,
            "totals": {currency: t.public() for currency, t in totals.items()},
            "rules": {"attribution_days": settings.shares.attribution_days,
                      "max_depth": settings.shares.max_depth,
                      "default_rate_bp": settings.shares.default_rate_bp,
                      "rate_cap_bp": settings.shares.rate_cap_bp,
                      "level2_rate_bp": settings.shares.level2_rate_bp}}
