"""Share-link verbs: issue a sharer's link, follow one (count the visit, set the attribution),
and claim a guest's attribution cookie when they sign in. Rules in docs/social.md."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.db import database_now
from core.errors import DomainError, present
from core.ratelimit import hit_share_visit
from core.security import share_signature, share_signature_matches
from live.models import LineupItem, Product, Room, RoomStatus
from orders.commissions import standing_attribution
from orders.group_models import Group
from sharing.codes import ShareCode, TargetKind, make_code, read_code
from sharing.errors import ShareKindUnsupported, ShareTargetNotFound
from sharing.models import ShareAttribution, ShareLink, ShareVisit

COOKIE_NAME = "ls_share"


@dataclass(frozen=True, slots=True)
class IssuedLink:
    id: int
    code: str
    kind: str
    target_id: int
    path: str


def link_path(code: str) -> str:
    return f"/s/{code}"


async def target_path(session: AsyncSession, kind: TargetKind, target_id: int) -> str:
    """Where a link leads, or `ShareTargetNotFound`. A room: its page. A product: the newest
    room still on (scheduled or live) that has it in its lineup, else its host's page."""
    if kind == TargetKind.ROOM:
        if await session.scalar(select(Room.id).where(Room.id == target_id)) is None:
            raise ShareTargetNotFound(f"no room has id {target_id}", field="id")
        return f"/rooms/{target_id}"
    if kind == TargetKind.PRODUCT:
        host_id = await session.scalar(select(Product.host_id).where(Product.id == target_id))
        if host_id is None:
            raise ShareTargetNotFound(f"no product has id {target_id}", field="id")
        room_id = await session.scalar(
            select(LineupItem.room_id).join(Room, Room.id == LineupItem.room_id)
            .where(LineupItem.product_id == target_id, Room.status != RoomStatus.ENDED.value)
            .order_by(Room.id.desc()).limit(1))
        return f"/rooms/{room_id}" if room_id is not None else f"/hosts/{host_id}"
    if kind == TargetKind.GROUP:
        code = await session.scalar(select(Group.code).where(Group.id == target_id))
        if code is None:
            raise ShareTargetNotFound(f"no group has id {target_id}", field="id")
        return f"/g/{code}"
    raise ShareKindUnsupported(f"{kind} links are not served", field="kind")


async def issue_link(svc: Services, sharer_id: int, kind: str, target_id: int) -> IssuedLink:
    """The sharer's link to a room, a product or a group: the same link each time they ask."""
    try:
        target_kind = TargetKind(kind)
    except ValueError:
        raise ShareKindUnsupported("kind is room, product or group", field="kind") from None
    async with svc.db.transaction() as session:
        await target_path(session, target_kind, target_id)
        await session.execute(
            pg_insert(ShareLink).values(sharer_id=sharer_id, target_kind=target_kind.value,
                                        target_id=target_id)
            .on_conflict_do_nothing(constraint="uq_share_links_sharer_target"))
        link = await session.scalar(select(ShareLink).where(
            ShareLink.sharer_id == sharer_id, ShareLink.target_kind == target_kind.value,
            ShareLink.target_id == target_id))
        link = present(link, "the share link just made")
        code = make_code(svc.settings.secret_key.reveal(), ShareCode(
            target_kind, target_id, sharer_id, int(link.issued_at.timestamp())))
    return IssuedLink(link.id, code, target_kind.value, target_id, link_path(code))


@dataclass(frozen=True, slots=True)
class Visit:
    path: str  # where to send the visitor
    link_id: int | None
    counted: bool  # a new visit (not one of a burst)
    attributed: bool  # a signed-in visitor's attribution row was written
    cookie: str | None  # the guest's attribution cookie (None for a signed-in visitor)


def cookie_value(secret: str, code: str, clicked_at: int) -> str:
    payload = f"{code}~{clicked_at}"
    return f"{payload}~{share_signature(secret, 'cookie:' + payload)}"


def read_cookie(secret: str, value: str) -> tuple[str, int] | None:
    code, _, rest = value.partition("~")
    clicked, _, signature = rest.partition("~")
    if not clicked.isdigit() or not share_signature_matches(
            secret, f"cookie:{code}~{clicked}", signature):
        return None
    return code, int(clicked)


async def visit(svc: Services, text: str, *, visitor_id: int | None, address: str) -> Visit:
    """Follow a share link. Refused (nothing recorded) when the client is over its visit
    limit, the code is malformed, forged or expired, or its target does not exist. Otherwise:
    a visit counted once per client and link per dedupe window; for a signed-in visitor (not
    the sharer) an attribution, unless one from this sharer already stands and this is a
    burst; for a guest, the cookie that carries the click until they sign in."""
    settings = svc.settings
    await hit_share_visit(svc.redis, svc.keys, settings, address=address)
    secret = settings.secret_key.reveal()
    code = read_code(secret, text, now=time.time(),
                     max_age_seconds=settings.shares.link_max_age_days * 86400)
    async with svc.db.transaction() as session:
        path = await target_path(session, code.kind, code.target_id)
        if visitor_id == code.sharer_id:
            return Visit(path, None, counted=False, attributed=False, cookie=None)
        await session.execute(
            pg_insert(ShareLink).values(sharer_id=code.sharer_id, target_kind=code.kind.value,
                                        target_id=code.target_id)
            .on_conflict_do_nothing(constraint="uq_share_links_sharer_target"))
        link_id = await session.scalar(select(ShareLink.id).where(
            ShareLink.sharer_id == code.sharer_id, ShareLink.target_kind == code.kind.value,
            ShareLink.target_id == code.target_id))
        link_id = present(link_id, "the share link just made")
        # One client: the signed-in user wherever they are, else the address.
        client = f"u{visitor_id}" if visitor_id is not None else f"a{address}"
        counted = bool(await svc.redis.set(svc.keys("share_visit", link_id, client), 1,
                                           nx=True, ex=settings.shares.visit_dedupe_seconds))
        if counted:
            session.add(ShareVisit(link_id=link_id, visitor_id=visitor_id))
        attributed = False
        if visitor_id is not None:
            now = await database_now(session)
            standing = await standing_attribution(session, visitor_id, now)
            if counted or standing is None or standing[1] != code.sharer_id:
                session.add(ShareAttribution(
                    user_id=visitor_id, sharer_id=code.sharer_id, link_id=link_id,
                    clicked_at=func.now(),
                    expires_at=func.now() + timedelta(days=settings.shares.attribution_days)))
                attributed = True
    # The cookie is a guest's only record of the click; a signed-in visitor has their row
    # (and a cookie left in a shared browser would attribute whoever signs in next).
    cookie = cookie_value(secret, text, int(time.time())) if visitor_id is None else None
    return Visit(path, link_id, counted, attributed, cookie)


async def claim_cookie(svc: Services, user_id: int, value: str) -> bool:
    """A guest followed a link and then signed in or up: their click becomes an attribution
    row at the time of the click, if its window is still open and the link is not their own.
    Last click wins by click time, so an older cookie never overrides a newer click."""
    settings = svc.settings
    secret = settings.secret_key.reveal()
    read = read_cookie(secret, value)
    if read is None:
        return False
    text, clicked = read
    try:
        code = read_code(secret, text, now=time.time(),
                         max_age_seconds=settings.shares.link_max_age_days * 86400)
    except DomainError:  # an expired or altered cookie just attributes nothing
        return False
    clicked_at = datetime.fromtimestamp(clicked, UTC)
    expires_at = clicked_at + timedelta(days=settings.shares.attribution_days)
    if code.sharer_id == user_id or expires_at <= datetime.now(UTC):
        return False
    async with svc.db.transaction() as session:
        link_id = await session.scalar(select(ShareLink.id).where(
            ShareLink.sharer_id == code.sharer_id, ShareLink.target_kind == code.kind.value,
            ShareLink.target_id == code.target_id))
        if link_id is None:
            return False
        session.add(ShareAttribution(user_id=user_id, sharer_id=code.sharer_id,
                                     link_id=link_id, clicked_at=clicked_at,
                                     expires_at=expires_at))
    return True
