"""JSON API for red envelope rains, lucky draws and the wallet. Thin: parse, call one action,
reply. The rules and how to verify them: docs/engagement.md."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role
from core.errors import Conflict, ValidationError
from engagement import draws, rains
from engagement.errors import NotRoomHost
from engagement.models import EntryRule, Envelope, RainStatus
from engagement.schemas import (
    DrawIn,
    DrawOut,
    EnterOut,
    GrabOut,
    RainEnvelopesOut,
    RainIn,
    RainOut,
    RoomEngagementOut,
    WalletOut,
)
from social import follows
from web.api import ApiRouter
from web.auth import require_user, resolve_principal
from web.edge import host_owned, services
from web.responses import JSON
from web.validation import parse_body, path_int

router = ApiRouter("engagement")


class RainNotSettled(Conflict):
    code = "rain_not_settled"


@router.add("/api/rooms/{room_id:int}/rains", "POST", summary="Drop a red envelope rain into "
            "a live room: the pool is split by a committed seed (its SHA-256 is in the reply). "
            "Errors: cannot_split (422), not_room_host (403), room_not_live, rain_in_progress "
            "(409)", body=RainIn, response=RainOut, status=201, errors=(404, 409, 422))
async def drop_rain(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, RainIn)
    svc = services(request)
    limits = svc.settings.engagement
    if data.envelope_count > limits.max_envelopes:
        raise ValidationError([{"field": "envelope_count",
                                "message": f"Must be {limits.max_envelopes} or less."}])
    minimum = data.min_minor if data.min_minor is not None else limits.min_envelope_minor
    if minimum < limits.min_envelope_minor:
        raise ValidationError([{"field": "min_minor",
                                "message": f"Must be {limits.min_envelope_minor} or more."}])
    rain = await rains.drop_rain(svc, principal, path_int(request, "room_id"), rains.RainTerms(
        envelope_count=data.envelope_count, total_minor=data.total_minor,
        currency=data.currency, countdown_seconds=data.countdown_seconds,
        duration_seconds=data.duration_seconds, min_minor=minimum))
    return JSON(await rains.rain_view(svc, rain), status_code=201)


@router.add("/api/rains/{rain_id:int}", "GET", summary="A rain: terms, window, the seed's hash "
            "(the seed once settled), envelopes grabbed", auth=False, response=RainOut,
            errors=(404,))
async def get_rain(request: Request) -> Response:
    svc = services(request)
    return JSON(await rains.rain_view(svc, await rains.get_rain(svc, path_int(request, "rain_id"))))


@router.add("/api/rains/{rain_id:int}/envelopes", "GET", summary="A settled rain's seed and "
            "every envelope (amount, grabber): what anyone needs to check the split. Error: "
            "rain_not_settled (409)", auth=False, response=RainEnvelopesOut, errors=(404, 409))
async def rain_envelopes(request: Request) -> Response:
    svc = services(request)
    rain = await rains.get_rain(svc, path_int(request, "rain_id"))
    if rain.status != RainStatus.SETTLED.value:
        raise RainNotSettled("the envelopes are published once the rain has ended",
                             field="rain_id")
    return JSON({"rain": await rains.rain_view(svc, rain),
                 "envelopes": await rains.envelopes_of(svc, rain.id)})


@router.add("/api/rains/{rain_id:int}/grab", "POST", summary="Grab one envelope (one per "
            "viewer per rain, viewers in the room only), credited to your wallet before the "
            "reply. Errors: rain_not_open, rain_ended, rain_empty, already_grabbed (409), "
            "host_cannot_grab, not_in_room (403), grab_retry (503)", response=GrabOut,
            status=201, errors=(403, 404, 409, 503))
async def grab(request: Request) -> Response:
    principal = await require_user(request)
    svc = services(request)
    rain_id = path_int(request, "rain_id")
    result = await rains.grab(svc, principal.id, rain_id)
    return JSON({"rain_id": result.rain_id, "seq": result.seq,
                 "amount_minor": result.amount_minor, "currency": result.currency,
                 "left": result.left}, status_code=201)


@router.add("/api/rains/{rain_id:int}/rebuild", "POST", summary="Rebuild the rain's Redis "
            "state from PostgreSQL (host, ops)", response=RainOut, errors=(404,))
async def rebuild_rain(request: Request) -> Response:
    svc, rain = await host_owned(request, "rain_id", rains.get_rain, NotRoomHost(
        "only the rain's host or ops can rebuild it", field="rain_id"))
    await rains.rebuild_rain(svc, rain.id)
    return JSON(await rains.rain_view(svc, rain))


@router.add("/api/rooms/{room_id:int}/draws", "POST", summary="Start a lucky draw: the seed's "
            "SHA-256 is committed now and shown; winners are picked from it at the close. "
            "Errors: not_room_host (403), room_not_live, draw_in_progress (409)", body=DrawIn,
            response=DrawOut, status=201, errors=(404, 409, 422))
async def start_draw(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, DrawIn)
    rule = EntryRule(data.rule)
    keyword = data.keyword.strip() if data.keyword else None
    if rule == EntryRule.KEYWORD and not keyword:
        raise ValidationError([{"field": "keyword",
                                "message": "A keyword draw needs the keyword to send."}])
    if rule != EntryRule.KEYWORD and keyword:
        raise ValidationError([{"field": "keyword",
                                "message": "Only a keyword draw takes a keyword."}])
    if keyword is not None and ":" in keyword:
        raise ValidationError([{"field": "keyword", "message": "Use a keyword without ':'."}])
    svc = services(request)
    draw = await draws.start_draw(svc, principal, path_int(request, "room_id"), draws.DrawTerms(
        prize=data.prize.strip(), winner_count=data.winner_count, rule=rule, keyword=keyword,
        countdown_seconds=data.countdown_seconds))
    return JSON(await draws.draw_view(svc, draw), status_code=201)


@router.add("/api/draws/{draw_id:int}", "GET", summary="A draw: terms, the seed's hash; once "
            "drawn, the seed, the sorted entrant list and the winners", auth=False,
            response=DrawOut, errors=(404,))
async def get_draw(request: Request) -> Response:
    svc = services(request)
    return JSON(await draws.draw_view(svc, await draws.get_draw(svc, path_int(request, "draw_id"))))


@router.add("/api/draws/{draw_id:int}/enter", "POST", summary="Join an in-room draw (stay in "
            "the room until it closes). Errors: draw_closed, enter_by_keyword, "
            "enter_by_following (409), "
            "host_cannot_enter (403)", response=EnterOut, errors=(404, 409))
async def enter_draw(request: Request) -> Response:
    principal = await require_user(request)
    draw_id = path_int(request, "draw_id")
    new = await draws.join_draw(services(request), principal.id, draw_id)
    return JSON({"draw_id": draw_id, "entered": True, "new": new})


@router.add("/api/rooms/{room_id:int}/engagement", "GET", summary="The room's latest rain and "
            "draw, and (signed in) your envelope and entry", auth=False,
            response=RoomEngagementOut)
async def room_engagement(request: Request) -> Response:
    svc = services(request)
    room_id = path_int(request, "room_id")
    principal = await resolve_principal(request)
    rain = await rains.latest_rain(svc, room_id)
    draw = await draws.latest_draw(svc, room_id)
    you: dict[str, Any] | None = None
    if principal is not None:
        envelope = None
        if rain is not None:
            async with svc.db.session() as session:
                row = (await session.execute(select(Envelope.seq, Envelope.amount_minor).where(
                    Envelope.rain_id == rain.id, Envelope.user_id == principal.id))).first()
            if row is not None:
                envelope = {"rain_id": rain.id, "seq": row[0], "amount_minor": row[1],
                            "currency": rain.currency}
        if draw is not None and draw.rule == EntryRule.FOLLOWS.value and draw.entrants is None:
            # Followers are entered at the close; until then, following is being in.
            async with svc.db.session() as session:
                entered = (await follows.follow_state(session, draw.host_id,
                                                      principal.id)).following
            entered = entered and principal.id != draw.host_id
        else:
            entered = draw is not None and await draws.entry_of(svc, draw.id, principal.id)
        you = {"envelope": envelope, "entered": entered}
    return JSON({"rain": await rains.rain_view(svc, rain) if rain else None,
                 "draw": await draws.draw_view(svc, draw) if draw else None,
                 "you": you, "server_time_ms": int(time.time() * 1000)})


@router.add("/api/wallet", "GET", summary="Your wallet: the sum of your ledger entries, per "
            "currency", response=WalletOut)
async def wallet(request: Request) -> Response:
    principal = await require_user(request)
    return JSON({"balances": await rains.balances(services(request), principal.id)})
