"""Which language a page is in, and the switcher: the cookie, then the account, then the
browser's Accept-Language, then Simplified Chinese (web/locale.py, web/i18n.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import select

from core.accounts import User
from core.context import Services
from tests.conftest import MakeUser, TestUser
from tests.orders.test_buy import statements_seen
from web.i18n import CATALOGS, LOCALE_COOKIE, SCRIPT_CATALOGS
from web.locale import NO_CHOICE

OWN_ORIGIN = "http://127.0.0.1:8000"
EVIL = "https://evil.example"


def _lang(page: httpx.Response) -> str:
    found = re.search(r'<html lang="([^"]+)"', page.text)
    assert found, page.text[:200]
    return found.group(1)


def _catalog(page: httpx.Response) -> dict[str, Any]:
    found = re.search(r'<script id="i18n" type="application/json">(.*?)</script>', page.text, re.S)
    assert found
    catalog: dict[str, Any] = json.loads(found.group(1))
    return catalog


async def _account_locale(services: Services, user_id: int) -> str | None:
    async with services.db.session() as session:
        locale: str | None = await session.scalar(select(User.locale).where(User.id == user_id))
    return locale


def _session(user: TestUser) -> dict[str, str]:
    return {"livesell_session": user.token}


async def test_a_first_visit_is_in_chinese(client: httpx.AsyncClient) -> None:
    # given a browser that says nothing of its language
    page = await client.get("/")
    # then the page and the catalog it carries are Chinese
    assert page.status_code == 200
    assert _lang(page) == "zh-CN"
    assert "正在直播" in page.text and "Live now" not in page.text
    assert _catalog(page) == SCRIPT_CATALOGS["zh-CN"]


async def test_the_browsers_language_is_followed(client: httpx.AsyncClient) -> None:
    english = await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    chinese = await client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    other = await client.get("/", headers={"Accept-Language": "fr-FR"})
    assert (_lang(english), _lang(chinese), _lang(other)) == ("en", "zh-CN", "zh-CN")
    assert "Live now" in english.text and _catalog(english) == SCRIPT_CATALOGS["en"]


async def test_the_switcher_keeps_the_choice_in_a_cookie(client: httpx.AsyncClient) -> None:
    # when a guest picks English on a page
    switched = await client.post("/locale", data={"locale": "en", "next": "/login?next=/host"},
                                 headers={"Origin": OWN_ORIGIN})
    # then they go back to that page, with the choice kept
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login?next=/host"
    assert client.cookies.get(LOCALE_COOKIE) == "en"
    # and it beats the browser's language on every page after
    page = await client.get("/signup", headers={"Accept-Language": "zh-CN"})
    assert _lang(page) == "en"
    assert "Create your account" in page.text
    # and back to Chinese
    await client.post("/locale", data={"locale": "zh-CN", "next": "/"},
                      headers={"Origin": OWN_ORIGIN})
    page = await client.get("/signup", headers={"Accept-Language": "en"})
    assert _lang(page) == "zh-CN"
    assert "创建你的账号" in page.text


async def test_the_switcher_refuses_other_sites_and_other_places(
        client: httpx.AsyncClient) -> None:
    cross = await client.post("/locale", data={"locale": "en", "next": "/"},
                              headers={"Origin": EVIL})
    assert cross.status_code == 303 and LOCALE_COOKIE not in cross.headers.get("set-cookie", "")
    unknown = await client.post("/locale", data={"locale": "fr", "next": "/"},
                                headers={"Origin": OWN_ORIGIN})
    assert LOCALE_COOKIE not in unknown.headers.get("set-cookie", "")
    away = await client.post("/locale", data={"locale": "en", "next": "https://evil.example/"},
                             headers={"Origin": OWN_ORIGIN})
    assert away.headers["location"] == "/"


async def test_a_signed_in_choice_is_kept_on_the_account(
        client: httpx.AsyncClient, make_user: MakeUser, services: Services, app: Any) -> None:
    # given a signed-in viewer who picks English
    viewer = await make_user("viewer")
    client.cookies.update(_session(viewer))
    await client.post("/locale", data={"locale": "en", "next": "/"}, headers={"Origin": OWN_ORIGIN})
    assert await _account_locale(services, viewer.id) == "en"

    # when they open a page in another browser: signed in, no language cookie, a Chinese browser
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=OWN_ORIGIN, cookies=_session(viewer)) as other:
        page = await other.get("/", headers={"Accept-Language": "zh-CN"})
        # then the page is in the account's language, and that browser keeps it from now on
        assert _lang(page) == "en"
        assert other.cookies.get(LOCALE_COOKIE) == "en"
        again = await other.get("/", headers={"Accept-Language": "zh-CN"})
        assert _lang(again) == "en"


async def test_signing_in_brings_the_accounts_language_and_keeps_the_browsers(
        client: httpx.AsyncClient, make_user: MakeUser, services: Services, app: Any) -> None:
    viewer = await make_user("viewer")
    login = {"email": viewer.email, "password": viewer.password}
    # a choice made before signing in goes onto the account
    client.cookies.set(LOCALE_COOKIE, "en")
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    assert await _account_locale(services, viewer.id) == "en"
    # a browser with no choice of its own takes the account's when it signs in
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=OWN_ORIGIN) as fresh:
        assert (await fresh.post("/api/auth/login", json=login)).status_code == 200
        assert fresh.cookies.get(LOCALE_COOKIE) == "en"


async def test_signing_up_keeps_the_language_chosen_before(
        client: httpx.AsyncClient, services: Services) -> None:
    client.cookies.set(LOCALE_COOKIE, "zh-CN")
    response = await client.post("/api/auth/signup", json={
        "email": "lang@example.com", "password": "password123", "display_name": "Lang"})
    assert response.status_code == 201
    assert await _account_locale(services, response.json()["user"]["id"]) == "zh-CN"


async def test_error_pages_and_api_errors(client: httpx.AsyncClient) -> None:
    # the error page is in the reader's language
    missing = await client.get("/rooms/999999", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert "直播间不存在" in missing.text
    nowhere = await client.get("/no/such/page", headers={"Accept": "text/html",
                                                         "Accept-Language": "en"})
    assert nowhere.status_code == 404 and "Page not found" in nowhere.text
    # the API's errors stay English, with their stable code, whatever the reader's language
    refused = await client.post("/api/auth/login", json={"email": "x@example.com",
                                                          "password": "wrong-password"},
                                headers={"Accept-Language": "zh-CN"})
    assert refused.status_code == 401
    assert refused.json()["error"] == {"code": "bad_credentials",
                                       "message": "wrong email or password",
                                       "field": "password"}


async def test_field_errors_carry_a_code_the_catalogs_put_in_words(
        client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/signup", json={
        "email": "nope", "password": "short", "display_name": ""})
    assert response.status_code == 422
    errors = {e["field"]: e for e in response.json()["error"]["errors"]}
    # the message stays English for API clients; the code (and the limit) is for the pages
    assert errors["password"] == {"field": "password", "message": "Use at least 8 characters.",
                                  "code": "string_too_short", "count": "8"}
    assert errors["email"]["code"] == "invalid_email"
    assert errors["display_name"]["code"] == "empty"
    for error in errors.values():
        assert f"errors.field.{error['code']}" in CATALOGS["zh-CN"]


async def test_the_sandbox_payment_page_speaks_the_readers_language(
        client: httpx.AsyncClient, make_user: MakeUser, make_product: Any,
        make_room: Any) -> None:
    # given a buyer holding a tea bought in a flash sale at ¥48
    host = await make_user("host")
    tea = await make_product(host, price_minor=12800, currency="CNY")
    room = await make_room(host, products=[tea], live=True)
    sale = await client.post(f"/api/rooms/{room['id']}/sales", headers=host.headers, json={
        "product_id": tea["id"], "price_minor": 4800, "quantity": 5, "per_user_limit": 1,
        "duration_seconds": 600})
    buyer = await make_user("viewer")
    bought = await client.post(f"/api/sales/{sale.json()['id']}/buy", json={},
                               headers={**buyer.headers, "Idempotency-Key": "tea"})
    # when they open the payment link in a Chinese browser
    page = await client.get(bought.json()["order"]["payment_url"],
                            headers={**buyer.headers, "Accept-Language": "zh-CN"})
    # then the gateway's page is Chinese, with the amount in yuan
    assert _lang(page) == "zh-CN"
    assert "¥48.00" in page.text and "确认支付" in page.text and "返回直播间" in page.text


async def test_a_filter_error_page_names_the_field_in_either_language(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    ops = await make_user("ops")
    page = await client.get("/ops?since=2026-05-02&until=2026-05-01",
                            headers={**ops.headers, "Accept": "text/html"})
    assert page.status_code == 422
    assert "请检查筛选条件" in page.text and "until: must not be before since" in page.text
    host = await make_user("host")
    other = await client.get("/host/commissions?room_id=999999",
                             headers={**host.headers, "Accept-Language": "en"})
    assert other.status_code == 404 and "Check the filter" in other.text
    assert "No such room." in other.text


async def test_a_chinese_host_is_offered_yuan_first(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    host = await make_user("host")
    chinese = await client.get("/host", headers={**host.headers, "Accept-Language": "zh-CN"})
    english = await client.get("/host", headers={**host.headers, "Accept-Language": "en"})
    first = re.compile(r'<select name="currency">\s*(?:\{#.*?#\}\s*)?<option value="(\w+)"')
    assert [m.group(1) for m in (first.search(chinese.text), first.search(english.text)) if m] \
        == ["CNY", "USD"]


async def test_an_account_without_a_language_is_read_once_per_browser(
        client: httpx.AsyncClient, make_user: MakeUser, services: Services) -> None:
    # given a signed-in viewer who never chose a language, in a browser with no language cookie
    viewer = await make_user("viewer")
    assert await _account_locale(services, viewer.id) is None
    client.cookies.update(_session(viewer))

    # when they open a page, then another
    first = await client.get("/", headers={"Accept-Language": "en-US"})
    with statements_seen(services) as statements:
        second = await client.get("/", headers={"Accept-Language": "en-US"})

    # then both follow the browser, and only the first asked the account: the browser keeps
    # "no choice" in the cookie
    assert _lang(first) == _lang(second) == "en"
    assert client.cookies.get(LOCALE_COOKIE) == NO_CHOICE
    assert [s for s in statements if "users.locale" in s] == []
    # and a browser that prefers Chinese still gets Chinese with that cookie
    assert _lang(await client.get("/", headers={"Accept-Language": "zh-CN"})) == "zh-CN"
