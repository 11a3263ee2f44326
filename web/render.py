"""The one page renderer: every HTML response of the app goes out through here, so every one
carries the same security headers (the CSP above all) and the same boot data.

Pages are server-rendered shells (Jinja2) that carry their first data as one JSON blob
(`boot`); the modules in web/static/js take it from there.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from core.accounts import Role
from web.auth import Principal, resolve_principal
from web.i18n import CATALOG_JSON, TRANSLATORS, format_datetime, format_money
from web.locale import remember_account_choice, request_locale

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


@lru_cache(maxsize=256)
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    """A /static URL with a content hash, so a new deploy never runs a stale cached script."""
    return f"/static/{path}?v={_static_version(path)}"


templates.env.globals["static_url"] = static_url

# Shown where there is no number (an en dash).
NO_VALUE = "\u2013"


@pass_context
def money(context: Context, minor: int | None, currency: str | None) -> Markup:
    """An amount in the page's locale (web/i18n.py's `format_money`); the browser formats it
    again with the same rules (web/static/js/format.js, the pages' one money formatter)."""
    if minor is None or currency is None:
        return Markup(NO_VALUE)
    return Markup('<data value="{}" data-currency="{}" data-money>{}</data>').format(
        int(minor), currency, format_money(int(minor), currency, context.get("locale", "en")))


@pass_context
def local_time(context: Context, value: str | datetime | None, *, time_only: bool = False,
               seconds: bool = False) -> Markup:
    """A moment for the browser to show in the reader's own time, with the zone
    (web/static/js/format.js); until the script runs, in UTC in the page's locale."""
    if value is None:
        return Markup(NO_VALUE)
    moment = value if isinstance(value, datetime) else _parse_iso(value)
    iso = value.isoformat() if isinstance(value, datetime) else value
    text = (format_datetime(moment, context.get("locale", "en"), date=not time_only,
                            seconds=seconds) if moment is not None else iso)
    flags = (" data-time-only" if time_only else "") + (" data-seconds" if seconds else "")
    return Markup('<time datetime="{}" data-local-time{}>{}</time>').format(
        iso, Markup(flags), text)


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def percent(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value * 100:.1f}%"


@pass_context
def duration(context: Context, seconds: int | None) -> str:
    if seconds is None:
        return NO_VALUE
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    t = TRANSLATORS[context.get("locale", "en")]
    return str(t("common.duration_hm", hours=hours, minutes=f"{minutes:02d}") if hours
               else t("common.duration_ms", minutes=minutes, seconds=f"{secs:02d}"))


def bp_percent(basis_points: int) -> str:
    """A rate kept in basis points, as the percent the pages show (the sign is the message's):
    1250 -> "12.50"."""
    return f"{basis_points / 100:.2f}"


templates.env.filters.update(money=money, local_time=local_time, percent=percent,
                             duration=duration, bp_percent=bp_percent)


# Pages run only our own scripts and styles: even a markup bug could not run injected code.
# Media and images may come from any http(s) host (a CDN's stream, a product photo).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' https: http: data:",
    "media-src 'self' https: http: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show who is logged in (and hosts' sales and earnings): never let a shared cache
    # keep one user's page for another.
    "Cache-Control": "no-store",
}


def secure(response: Response) -> Response:
    """Add the security headers to an HTML response built outside the templates."""
    response.headers.update(SECURITY_HEADERS)
    return response


def html(content: str, status_code: int = 200) -> Response:
    return secure(HTMLResponse(content, status_code=status_code))


def page(request: Request, name: str, principal: Principal | None, *, status_code: int = 200,
         boot: dict[str, Any] | None = None, **context: Any) -> Response:
    """Render a template of web/templates with the page's boot JSON and the security headers."""
    settings = request.app.state.settings
    locale = request_locale(request)
    boot_data = {"me": principal.public() if principal else None, "locale": locale,
                 "chat_max_length": settings.chat_max_length,
                 "chat_min_interval_ms": settings.chat_min_interval_ms, **(boot or {})}
    response = templates.TemplateResponse(
        request, name, {"me": principal, "boot": boot_data, "locale": locale,
                        "t": TRANSLATORS[locale], "catalog_json": CATALOG_JSON[locale],
                        **context}, status_code=status_code)
    remember_account_choice(request, response)
    return secure(response)


def error_page(request: Request, principal: Principal | None, status_code: int, title: str,
               message: str, **params: Any) -> Response:
    """The error page; `title` and `message` are catalog keys (`params` fill the message in).
    Text that is no key is shown as it is (a message from the API, already in words)."""
    return page(request, "error.html", principal, status_code=status_code, status=status_code,
                title=title, message=message, params=params)


def login_redirect(request: Request) -> Response:
    """To the sign-in page, coming back here after."""
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


async def page_principal(request: Request, roles: tuple[Role, ...] = (),
                         refusal: tuple[str, str] = ("", "")) -> Principal | Response:
    """The signed-in user of a page, or the response that sends them away: to sign in when
    nobody is, and a 403 page (`refusal`: title, message) when `roles` are given and theirs is
    not one of them."""
    principal = await resolve_principal(request)
    if principal is None:
        return login_redirect(request)
    if roles and principal.role not in roles:
        return error_page(request, principal, 403, *refusal)
    return principal
