"""The reader's language at the web edge: which locale a page is in, and the switcher.

The choice lives in the `livesell_locale` cookie and, for a signed-in user, on the account
(`users.locale`). A page reads the cookie; only a signed-in page request that has no cookie
asks the account (one primary-key read, by `AccountLocale` below), and then keeps the answer
in the cookie (`NO_CHOICE` when the account has none), so a browser pays for it once. The API and the buy path never look.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import select, update
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core.accounts import User
from core.errors import DomainError
from core.settings import Settings
from web.auth import SESSION_COOKIE, origin_allowed, resolve_principal
from web.i18n import LOCALE_COOKIE, LOCALE_COOKIE_MAX_AGE, TRANSLATORS, negotiate, normalize
from web.validation import read_body

# Where the account's choice, read for this request, is kept in the ASGI scope.
ACCOUNT_LOCALE = "livesell.account_locale"
# The cookie's value for "the account has no language chosen": no locale (`normalize` gives
# None), so the browser's Accept-Language decides, as it would without the cookie.
NO_CHOICE = "auto"
# Paths that are no page: no locale to work out for them.
NOT_PAGES = ("/api/", "/ws", "/static/", "/media/", "/metrics", "/health", "/openapi.json")


def request_locale(conn: HTTPConnection) -> str:
    """The locale of this request's page: cookie > account > Accept-Language > zh-CN."""
    return negotiate(conn.cookies.get(LOCALE_COOKIE), conn.scope.get(ACCOUNT_LOCALE),
                     conn.headers.get("accept-language"))


def error_text(conn: HTTPConnection, exc: DomainError) -> str:
    """A domain error in the reader's words, for a page: its code's message, else the API's
    English one. A validation error's own message names what is wrong ("until: must not be
    before since"), which the generic words for `invalid` would not, so it stays."""
    if exc.code == "invalid":
        return f"{exc.field}: {exc.message}" if exc.field else exc.message
    return TRANSLATORS[request_locale(conn)].error(exc.code, exc.message)


def keep_choice(response: Response, settings: Settings, locale: str) -> None:
    # Readable by nothing but the server (the pages get their locale in the markup), sent on
    # same-site navigations only.
    response.set_cookie(LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_MAX_AGE, httponly=True,
                        samesite="lax", secure=settings.session_cookie_secure)


def remember_account_choice(conn: HTTPConnection, response: Response) -> None:
    """After a page read the account's choice because the browser had no cookie: keep it in
    the cookie, so the next page does not read it again. An account with no choice is kept
    too, as NO_CHOICE: the browser's Accept-Language then goes on choosing, and no page reads
    the account again (signing in brings an account's choice, `api_accounts._sync_locale`)."""
    if ACCOUNT_LOCALE in conn.scope and LOCALE_COOKIE not in conn.cookies:
        keep_choice(response, conn.app.state.settings,
                    conn.scope[ACCOUNT_LOCALE] or NO_CHOICE)


class AccountLocale:
    """For a page request (GET, not the API) of a signed-in browser without the locale cookie:
    the account's choice, put in the scope for `request_locale`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET"
                and not scope["path"].startswith(NOT_PAGES)):
            conn = HTTPConnection(scope)
            if LOCALE_COOKIE not in conn.cookies and SESSION_COOKIE in conn.cookies:
                principal = await resolve_principal(conn)
                if principal is not None:
                    async with conn.app.state.db.session() as session:
                        scope[ACCOUNT_LOCALE] = await session.scalar(
                            select(User.locale).where(User.id == principal.id))
        await self.app(scope, receive, send)


async def save_account_locale(conn: HTTPConnection, user_id: int, locale: str) -> None:
    async with conn.app.state.db.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(locale=locale))


# The form's body is two short fields (a language and the page's path); more is refused (413).
MAX_FORM_BYTES = 4096


async def switch_locale(request: Request) -> Response:
    """The switcher on every page (a plain form, so it works before any script): keep the
    choice in the cookie and on the account, and go back to the page."""
    from web.pages import safe_next  # web.pages renders through web.render, which imports us

    settings: Settings = request.app.state.settings
    body = await read_body(request, MAX_FORM_BYTES)
    fields: dict[str, Any] = parse_qs(body.decode("utf-8", "replace"))
    locale = normalize((fields.get("locale") or [""])[0])
    back = safe_next((fields.get("next") or ["/"])[0])
    response = RedirectResponse(back, status_code=303)
    # A cross-site form may not change anyone's account (a language only, but still theirs).
    # No Origin and no Referer is no browser, so no visitor's cookies: as for login.
    browser = "origin" in request.headers or "referer" in request.headers
    if locale is None or (browser and not origin_allowed(request, settings)):
        return response
    keep_choice(response, settings, locale)
    principal = await resolve_principal(request)
    if principal is not None and principal.via_cookie:
        await save_account_locale(request, principal.id, locale)
    return response


routes = [Route("/locale", switch_locale, methods=["POST"], name="locale")]
