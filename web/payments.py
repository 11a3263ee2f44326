"""The sandbox gateway's hosted payment page, and the provider webhook endpoint.

The page stands in for a hosted gateway: it is reached by the payment link of a buy reply
(signed, and open only to the order's buyer, signed in), shows the amount, and offers Pay and
Decline. Either button records the attempt and queues the gateway's signed webhook, which a
Celery task delivers to `POST /api/payments/sandbox/webhook`.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.context import Services
from core.errors import DomainError
from orders import paying, queries
from orders.errors import NotOrderOwner, PaymentLinkInvalid
from orders.models import Order, OrderSource
from orders.payments.sandbox import PAY_PATH, WEBHOOK_PATH, SandboxProvider
from orders.schemas import WebhookOut
from web.api import ApiRouter
from web.auth import require_user, resolve_principal
from web.edge import services
from web.i18n import TRANSLATORS, Translator, format_datetime, format_money
from web.locale import request_locale
from web.render import html as secure_html
from web.render import static_url
from web.responses import JSON
from web.validation import path_int, read_body, read_form

log = logging.getLogger(__name__)

router = ApiRouter("payments")


@router.add(WEBHOOK_PATH, "POST", summary="Sandbox gateway webhook (HMAC-SHA256 signed over "
            "`timestamp.body` in the Livesell-Signature header; 300 s tolerance)", auth=False,
            response=WebhookOut, errors=(400, 503))
async def sandbox_webhook(request: Request) -> Response:
    body = await read_body(request)
    svc = services(request)
    outcome = await paying.handle_webhook(svc, request.headers, body,
                                           SandboxProvider.from_settings(svc.settings))
    return JSON({"received": True, "outcome": outcome})


# In the reader's language (web/i18n.py): `t` below is the request's translator, and every
# text of it is escaped as it goes in.
_PAGE = """<!doctype html>
<html lang="{locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>{refresh}
<link rel="stylesheet" href="{stylesheet}"></head>
<body><div class="card" data-order-id="{order_id}">
<p class="note">{note}</p>
<h1>{heading}</h1>
<div class="amount" data-amount-minor="{amount_minor}">{amount}</div>
{body}
<script type="module" src="{common_js}"></script>
<p class="back"><a href="{back_url}" data-testid="back-to-room">{back}</a></p>
</div></body></html>"""


def _t(request: Request) -> Translator:
    return TRANSLATORS[request_locale(request)]


def _text(request: Request, key: str, **params: Any) -> str:
    return html.escape(str(_t(request)(key, **params)))


class _Refused(Exception):
    """The page is not for this requester; `response` says why."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _refusal(request: Request, message: str, status: int, *,
             sign_in: str | None = None) -> _Refused:
    link = (f' <a href="/login?next={html.escape(quote(sign_in, safe=""))}" '
            f'data-testid="sign-in">{_text(request, "pay.sign_in")}</a>' if sign_in else "")
    return _Refused(secure_html(f"<p>{html.escape(message)}{link}</p>", status))


async def _load(request: Request) -> tuple[Services, Order, str]:
    """The order behind a payment link, for its buyer only. The link is signed (so it cannot be
    made up) and bound to the buyer: another user, or a guest, who holds it gets 403 and
    nothing changes."""
    svc = services(request)
    order_id = path_int(request, "order_id")
    signature = request.query_params.get("sig", "")
    if request.method == "POST":
        form = await read_form(request)
        signature = str(form.get("sig", signature))
    try:
        if not SandboxProvider.from_settings(svc.settings).link_valid(order_id, signature):
            raise PaymentLinkInvalid("this payment link is not valid")
        if await resolve_principal(request) is None:
            link = f"{PAY_PATH}/{order_id}?{urlencode({'sig': signature})}"
            raise _refusal(request, str(_t(request)("pay.sign_in_as_buyer")), 403,
                           sign_in=link)
        # A cookie-authenticated press must come from one of the app's own pages.
        principal = await require_user(request)
        async with svc.db.session() as session:
            order = await queries.get_order(session, order_id)
        if order.user_id != principal.id:
            raise NotOrderOwner("this payment link belongs to another account")
    except DomainError as exc:
        raise _refusal(request, _t(request).error(exc.code, exc.message),
                       exc.status_code) from None
    return svc, order, signature


# Long enough to read the one line the page says, short enough not to wait for the show.
RETURN_TO_SHOW_SECONDS = 2


def _back_url(order: Order) -> str:
    """Where the buyer pressed buy: the replay's or short video's page, the bargain's, else the
    room's; a group buy's page for a group order (which leads to /g/{code})."""
    if order.group_id is not None:
        return f"/groups/{order.group_id}"
    if order.source_kind in (OrderSource.REPLAY, OrderSource.VIDEO) and order.source_id:
        return f"/videos/{order.source_id}"
    if order.source_kind == OrderSource.BARGAIN and order.source_id:
        return f"/bargains/{order.source_id}"
    return f"/rooms/{order.room_id}"


def _page(request: Request, order: Order, body: str, status: int = 200, *,
          refresh_seconds: int | None = None) -> Response:
    # The app's own security headers: the page's style is a file of ours, not inline.
    refresh = ("" if refresh_seconds is None else
               f'<meta http-equiv="refresh" content="{refresh_seconds};url={_back_url(order)}">')
    locale = request_locale(request)
    return secure_html(_PAGE.format(order_id=order.id, back_url=_back_url(order), refresh=refresh,
                                    locale=locale, title=_text(request, "pay.title"),
                                    note=_text(request, "pay.note"),
                                    heading=_text(request, "pay.order", id=order.id),
                                    back=_text(request, "pay.back"),
                                    amount_minor=order.amount_minor,
                                    amount=html.escape(format_money(order.amount_minor,
                                                                    order.currency, locale)),
                                    stylesheet=static_url("css/sandbox-pay.css"),
                                    common_js=static_url("js/common.js"), body=body),
                       status)


async def pay_page(request: Request) -> Response:
    try:
        _, order, signature = await _load(request)
    except _Refused as refused:
        return refused.response
    if order.status != "pending_payment":
        status = _t(request)(f"order.status.{order.status}")
        body = (f'<p class="status" data-status="{html.escape(order.status)}">'
                f'{_text(request, "pay.order_is", status=status)}</p>')
        return _page(request, order, body)
    # The moment as a <time> that common.js writes in the buyer's own zone.
    expires = order.hold_expires_at.isoformat()
    moment = (f'<time datetime="{expires}" data-local-time data-testid="hold-expires">'
              f'{html.escape(format_datetime(order.hold_expires_at, request_locale(request)))}'
              '</time>')
    hold = _t(request)("pay.hold_expires", time=Markup(moment))  # the moment kept as markup
    body = (f'<p class="note">{hold}</p>'
            f'<form method="post" action="{PAY_PATH}/{order.id}">'
            f'<input type="hidden" name="sig" value="{html.escape(signature)}">'
            f'<button class="pay" name="action" value="pay" type="submit">'
            f'{_text(request, "pay.pay")}</button>'
            f'<button class="decline" name="action" value="decline" type="submit">'
            f'{_text(request, "pay.decline")}</button></form>')
    return _page(request, order, body)


async def pay_submit(request: Request) -> Response:
    try:
        svc, order, _ = await _load(request)
    except _Refused as refused:
        return refused.response
    form = await read_form(request)
    pay = form.get("action") == "pay"
    try:
        outbox_id = await paying.submit_sandbox_payment(svc, order.id, pay=pay)
    except DomainError as exc:
        message = _t(request).error(exc.code, exc.message)
        body = f'<p class="status" data-status="{exc.code}">{html.escape(message)}</p>'
        return _page(request, order, body, status=409)
    await enqueue_webhook(outbox_id)
    if pay:
        body = ('<p class="status" data-status="submitted">'
                f'{_text(request, "pay.submitted")}</p>')
    else:
        body = ('<p class="status" data-status="declined">'
                f'{_text(request, "pay.declined")}</p>')
    # Back to the stream by itself (a meta refresh: the page's CSP allows no script).
    return _page(request, order, body, refresh_seconds=RETURN_TO_SHOW_SECONDS)


async def enqueue_webhook(outbox_id: int) -> None:
    """Hand the committed outbox message to a worker. If the broker is down the periodic relay
    sends it later, so a failure here is logged, not raised."""
    from workers.tasks import deliver_webhook

    try:
        await asyncio.to_thread(deliver_webhook.delay, outbox_id)
    except Exception:
        log.warning("could not enqueue webhook %s; the outbox relay will", outbox_id,
                    exc_info=True)


routes: list[BaseRoute] = [
    Route(PAY_PATH + "/{order_id:int}", pay_page, methods=["GET"]),
    Route(PAY_PATH + "/{order_id:int}", pay_submit, methods=["POST"]),
]
