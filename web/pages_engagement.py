"""The public verification page of a lucky draw: /draws/{id}/verify.

It shows what was committed and what was revealed, and recomputes the winners on the server
from the revealed seed and the published entrant list (docs/engagement.md has the algorithm,
so anyone can do the same without us: `livesell verify-draw ID`, or the few lines of code in
the documentation)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engagement import draws
from engagement.errors import DrawNotFound
from engagement.models import DrawStatus
from web.auth import resolve_principal
from web.edge import services
from web.render import error_page, page
from web.validation import path_int


async def verify_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    svc = services(request)
    try:
        draw = await draws.get_draw(svc, path_int(request, "draw_id"))
    except DrawNotFound:
        return error_page(request, principal, 404, "error.no_draw.title",
                          "error.no_draw.message")
    view = await draws.draw_view(svc, draw)
    check = None
    if draw.status == DrawStatus.DRAWN.value and view["seed"] is not None:
        check = draws.verify(view["seed"], view["seed_hash"], view["entrants"] or [],
                             draw.winner_count, view["winners"] or [])
    names = await draws.names_of(svc, list(view["winners"] or []))
    public = {k: view[k] for k in ("id", "seed", "seed_hash", "entrants", "winners",
                                   "winner_count")}
    return page(request, "draw_verify.html", principal, boot={"draw": public}, draw=view,
                check=check,
                recomputed_names=[names.get(w, f"#{w}") for w in (check.recomputed if check else [])])


routes: list[BaseRoute] = [
    Route("/draws/{draw_id:int}/verify", verify_page, methods=["GET"]),
]
