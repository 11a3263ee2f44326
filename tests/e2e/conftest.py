"""Browser fixtures: headless Debian Chromium driven by Playwright against the live server.

Playwright's async API runs in the tests' session event loop (its sync API
cannot share a thread with pytest-asyncio's loop). Set-up goes through the JSON
API; each browser context gets the user's session cookie, so pages load as
that user.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    expect,
)
from sqlalchemy import text

from core.context import Services
from tests.browser import launch_chromium
from tests.conftest import LiveServer, TestUser
from tests.infra import ROOT, TestInfra, kept
from tests.workers.conftest import CeleryProcess, start_solo_worker

ARTIFACTS = ROOT / "test-artifacts"
# Pages talk to the server over a websocket: this is the most a live update may take here.
LIVE_TIMEOUT_MS = 2000
# A paid order goes page -> outbox -> broker -> worker -> webhook -> hub -> page, a go-live
# alert commit -> broker -> worker -> notification rows -> user event -> page; a worker on a
# loaded two-core machine can take a while to pick a task up.
WORKER_TIMEOUT_MS = 30_000
PAYMENT_TIMEOUT_MS = WORKER_TIMEOUT_MS
# A shipping address, which a regular-price buy needs.
ADDRESS = {"name": "Li Wei", "line1": "88 Nanjing Road", "city": "Shanghai",
           "postal_code": "200001", "country": "CN", "phone": "+86 138 0000 0000"}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def server(live_server: LiveServer) -> LiveServer:
    """The run's `live_server` (tests/conftest.py)."""
    return live_server


@pytest.fixture
def solo_worker(infra: TestInfra, server: LiveServer) -> CeleryProcess:
    """A Celery worker on this run's broker (one task at a time), kept across consecutive tests
    that use it (tests.infra.kept); its `log()` is the test's own part."""
    return kept("solo_worker", lambda: start_solo_worker(infra)).from_now()


# Someone signed up through the API: the same as the other tests' users.
Account = TestUser


class Api:
    """The app's JSON API, for setting the scene before the browser acts."""

    def __init__(self, server: LiveServer) -> None:
        self.http = httpx.AsyncClient(base_url=server.url, timeout=10)
        self.count = 0

    async def call(self, method: str, path: str, who: Account | None = None, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers=who.headers if who else None,
                                           **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def signup(self, name: str, role: str = "viewer") -> Account:
        self.count += 1
        email = f"{name.lower().replace(' ', '')}{self.count}@example.com"
        body = await self.call("POST", "/api/auth/signup", json={
            "email": email, "password": "password123", "display_name": name, "role": role})
        user = body["user"]
        return Account(id=user["id"], email=email, password="password123",
                       display_name=user["display_name"], role=user["role"], token=body["token"])

    async def product(self, host: Account, **overrides: Any) -> dict[str, Any]:
        body = {"title": "Silk scarf", "price_minor": 1999, "currency": "USD", "stock": 50,
                **overrides}
        product: dict[str, Any] = await self.call("POST", "/api/products", host, json=body)
        return product

    async def room(self, host: Account, products: list[dict[str, Any]] | None = None, *,
                   live: bool = True, **overrides: Any) -> dict[str, Any]:
        room: dict[str, Any] = await self.call("POST", "/api/rooms", host,
                                               json={"title": "Evening drop", **overrides})
        if products:
            await self.call("PUT", f"/api/rooms/{room['id']}/lineup", host,
                            json={"product_ids": [p["id"] for p in products]})
        if live:
            room = await self.call("POST", f"/api/rooms/{room['id']}/status", host,
                                   json={"status": "live"})
        return room


    async def show(self, *products: dict[str, Any], host: str = "Mia",
                   variants: list[dict[str, Any]] | None = None, pin: bool = False,
                   **room: Any) -> Show:
        """A host (signed up as `host`) live in a room with `products` (each a product's
        fields) in its lineup, each given `variants` (the body of PUT .../variants) when set,
        and the first pinned when `pin`."""
        owner = await self.signup(host, role="host")
        made = [await self.product(owner, **fields) for fields in products]
        show = Show(owner, await self.room(owner, made, **room), made)
        for index, product in enumerate(made):
            if variants is not None:
                await self.call("PUT", f"/api/products/{product['id']}/variants", owner,
                                json=variants[index])
            if pin and index == 0:
                await self.call("POST", f"/api/rooms/{show.room['id']}/pin", owner,
                                json={"product_id": product["id"]})
        return show

    async def viewer(self, name: str = "Lan", *,
                     address: dict[str, str] | None = None) -> Account:
        """A viewer signed up, with a shipping address when given one."""
        viewer = await self.signup(name)
        if address is not None:
            await self.call("PUT", "/api/account/address", viewer, json=address)
        return viewer


@dataclass
class Show:
    """A live room its host set up through the API (`Api.show`)."""

    host: Account
    room: dict[str, Any]
    products: list[dict[str, Any]]

    @property
    def path(self) -> str:
        return f"/rooms/{self.room['id']}"

    @property
    def panel_path(self) -> str:
        return f"/host/rooms/{self.room['id']}"


_rooms_made = {"tests": 0}


@pytest.fixture
async def api(server: LiveServer, services: Services) -> AsyncIterator[Api]:
    # `services` pulls in the per-test clean-up of tables and Redis keys. The server process
    # lives through the whole session and its hub remembers each room it served (its last event
    # offset): so every test's rooms get ids no earlier test used, as they would in production,
    # even if a sequence was restarted (a migration test going down and up again).
    _rooms_made["tests"] += 1
    async with services.db.engine.begin() as conn:
        # (never backwards: the server also serves the rooms of other folders' tests)
        await conn.execute(text(
            "select setval(pg_get_serial_sequence('rooms', 'id'), greatest(:start, coalesce("
            "pg_sequence_last_value(pg_get_serial_sequence('rooms', 'id')), 0) + 1000))"),
            {"start": _rooms_made["tests"] * 1000})
    client = Api(server)
    yield client
    await client.http.aclose()


@dataclass
class Pages:
    """Open pages as a given user (or a guest); every page fails the test on a script error."""

    browser: Browser
    server: LiveServer
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str, who: Any = None, *, width: int = 1360,
                   height: int = 900, bypass_csp: bool = False, has_touch: bool = False,
                   timezone_id: str = "UTC", locale: str = "en-US") -> Page:
        """`bypass_csp` switches off the pages' Content-Security-Policy: to show that the
        pages are safe without it (chat markup never runs), not only thanks to it. `who` is
        an `Account` or a `tests.conftest.TestUser` (anything with a session `token`);
        `has_touch` makes a phone's touch screen, for `page.tap` (not Chromium's mobile
        emulation: that widens the layout viewport to fit a page that overflows, and would
        hide the sideways scrolling the layout tests look for). `locale` is the browser's
        language (its Accept-Language): English unless a test says otherwise, so the pages'
        words are English (a browser in Chinese, or saying nothing, gets Chinese). The browser
        asks for reduced motion, as a reader may (app.css then stops every animation after
        one frame): the pulsing live badges would otherwise be drawn 60 times a second in
        every page of a test: about an eighth of the browser tests' CPU on this two-core
        machine (21 tests, three runs each way: 117 to 127 CPU-seconds, 94 to 119 with it)."""
        context = await self.browser.new_context(viewport={"width": width, "height": height},
                                                 locale=locale, timezone_id=timezone_id,
                                                 bypass_csp=bypass_csp, has_touch=has_touch,
                                                 reduced_motion="reduce")
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        if who is not None:
            await context.add_cookies([{"name": "livesell_session", "value": who.token,
                                        "url": self.server.url}])
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{path}: {exc}"))
        page.on("console", self._console(path))
        await page.goto(self.server.url + path)
        return page

    async def watch(self, show: Show, who: Any = None, **options: Any) -> Page:
        """`who` (a guest when None) in the show's room, its websocket open."""
        return await connected(await self.open(show.path, who, **options))

    async def panel(self, show: Show, **options: Any) -> Page:
        """The show's host in its panel, its websocket open."""
        return await connected(await self.open(show.panel_path, show.host, **options))

    def _console(self, path: str) -> Callable[[ConsoleMessage], None]:
        def record(message: ConsoleMessage) -> None:
            # A 4xx answer the page shows, or a websocket refused during a reconnect, is expected;
            # script errors are not.
            expected = ("Failed to load resource" in message.text or "WebSocket" in message.text)
            if message.type == "error" and not expected:
                self.errors.append(f"{path}: console: {message.text}")
        return record

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def pages(browser: Browser, server: LiveServer) -> AsyncIterator[Pages]:
    opened = Pages(browser, server)
    yield opened
    await opened.close()
    assert not opened.errors, "errors in the pages:\n" + "\n".join(opened.errors)


async def until(page: Page, expression: str, *, timeout: float = 10.0) -> None:
    """Poll a JavaScript expression in the page until it is true (evaluated over the devtools
    protocol, so the pages' Content-Security-Policy does not stop it), failing at the deadline."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


SCREENSHOTS = ARTIFACTS / "screenshots"


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


async def host_and_viewer(api: Api, pages: Pages, host: Account, room: dict[str, Any],
                          viewer: str = "Leo", **options: Any) -> tuple[Page, Page, Account]:
    """The usual scene: the host's panel of a live room and a viewer signed up as `viewer`
    watching it, both connected; `options` for both pages (`Pages.open`)."""
    scene = Show(host, room, [])
    panel = await pages.panel(scene, **options)
    account = await api.signup(viewer)
    return panel, await pages.watch(scene, account, **options), account


async def pay_in_sandbox(page: Page, pay: Locator, back_to: str, *, label: str = "Pay") -> None:
    """Press the page's `pay` button, pay on the sandbox gateway's page (its button `label`),
    and come back to the path `back_to`."""
    await pay.click()
    await page.wait_for_url(re.compile(r"/sandbox/pay/\d+\?sig="))
    await page.get_by_role("button", name=label, exact=True).click()
    await page.wait_for_url(re.compile(rf"{re.escape(back_to)}$"))


async def fill_sale_form(panel: Page, price: str, quantity: str) -> Locator:
    """Type a flash sale's price and quantity into the host panel's form: the form."""
    form = panel.get_by_test_id("sale-form")
    await form.get_by_test_id("sale-price-input").fill(price)
    await form.get_by_test_id("sale-quantity").fill(quantity)
    return form


async def connected(page: Page) -> Page:
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    return page


@pytest.fixture
def webhook_worker(solo_worker: CeleryProcess) -> CeleryProcess:
    """The Celery worker that sends the sandbox gateway's webhooks to the URL the payment page
    recorded (the live server's own) and runs the tasks the live server queues (go-live
    alerts): the run's kept `solo_worker`."""
    return solo_worker
