"""The buy route's own way in (web/buy_path.py) answers exactly as Starlette's router does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orders import buying
from tests.conftest import TestUser
from tests.orders.conftest import make_sale  # noqa: F401  (the fixture)
from web.auth import SESSION_COOKIE
from web.buy_path import GZIP_MINIMUM_SIZE, BuyFastPath
from web.metrics import RequestObserver

BUY_TEMPLATE = "/api/sales/{sale_id}/buy"
# Differ between any two replies: when, and the new order's own id and links.
PER_ORDER = {"id", "created_at", "hold_expires_at", "hold_expires_at_ms", "payment_url"}


def fast_path(app: Any) -> BuyFastPath:
    layer = app.middleware_stack
    while not isinstance(layer, BuyFastPath):
        layer = layer.app
    return layer


@pytest.fixture
def both_ways(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        Callable[[Callable[[], Awaitable[httpx.Response]]], Awaitable[tuple[httpx.Response,
                                                                            httpx.Response]]]]:
    """Send a request once through the buy route's own way in and once through Starlette's
    router; check which way each took."""

    async def send(request: Callable[[], Awaitable[httpx.Response]]) -> tuple[
            httpx.Response, httpx.Response]:
        path = fast_path(app)
        handled = path.handled
        monkeypatch.setattr(BuyFastPath, "enabled", True)
        fast = await request()
        taken = path.handled - handled
        monkeypatch.setattr(BuyFastPath, "enabled", False)
        slow = await request()
        assert (taken, path.handled - handled) == (1, 1), "the fast path was not taken once"
        return fast, slow

    yield send


def observed(method: str, status: int) -> float:
    return REGISTRY.get_sample_value("livesell_http_request_duration_seconds_count",
                                     {"route": BUY_TEMPLATE, "method": method,
                                      "status": str(status)}) or 0.0


def same_reply(fast: httpx.Response, slow: httpx.Response, *, per_order: bool = False) -> None:
    assert fast.status_code == slow.status_code
    skip = {"date", "content-length"}
    assert ({k: v for k, v in fast.headers.items() if k not in skip}
            == {k: v for k, v in slow.headers.items() if k not in skip})
    if per_order:
        fast_order, slow_order = fast.json()["order"], slow.json()["order"]
        assert fast_order.keys() == slow_order.keys()
        assert ({k: v for k, v in fast_order.items() if k not in PER_ORDER}
                == {k: v for k, v in slow_order.items() if k not in PER_ORDER})
    else:
        assert fast.content == slow.content


async def test_every_buy_outcome_is_the_same_reply_both_ways(
        client: httpx.AsyncClient, make_user: Any, make_sale: Any,  # noqa: F811
        both_ways: Any) -> None:
    sale = await make_sale(quantity=3, per_user_limit=1)
    later = await make_sale(quantity=2, start_in_seconds=3600)
    first, second, third = await make_user(), await make_user(), await make_user()

    def buy(user: TestUser | None, sale_id: int, key: str | None, *, body: Any = None,
            content: bytes | None = None, extra: dict[str, str] | None = None,
            ) -> Callable[[], Awaitable[httpx.Response]]:
        headers = {"X-Request-ID": "same-request", **(user.headers if user else {}),
                   **({"Idempotency-Key": key} if key is not None else {}), **(extra or {})}

        def send() -> Awaitable[httpx.Response]:
            if content is not None:
                return client.post(f"/api/sales/{sale_id}/buy", content=content,
                                   headers=headers)
            return client.post(f"/api/sales/{sale_id}/buy",
                               json={"quantity": 1} if body is None else body, headers=headers)
        return send

    created_before = observed("POST", 201)
    # accepted: two buyers, one each way
    users = iter([first, second])
    fast, slow = await both_ways(lambda: buy(next(users), sale.id, "k1")())
    assert fast.status_code == 201
    same_reply(fast, slow, per_order=True)
    assert observed("POST", 201) == created_before + 2

    cases: list[tuple[Callable[[], Awaitable[httpx.Response]], int, str | None]] = [
        (buy(first, sale.id, "k1"), 201, None),  # replayed
        (buy(first, sale.id, "k2"), 409, "limit_reached"),
        (buy(third, later.id, "k3"), 409, "sale_not_started"),
        (buy(third, sale.id, None), 400, "idempotency_key_required"),
        (buy(third, sale.id, "not a key!"), 422, "invalid"),
        (buy(third, sale.id, "k4", body={"quantity": 0}), 422, "invalid"),
        (buy(third, sale.id, "k5", content=b"{not json",
             extra={"content-type": "application/json"}), 422, "invalid"),
        (buy(third, sale.id, "k6", content=b"x" * 70_000,
             extra={"content-type": "application/json"}), 413, "payload_too_large"),
        (buy(third, sale.id, "k4b", body={"quantity": "x"}), 422, "invalid"),
        (buy(third, sale.id, "k4c", body={"quantity": 1, "colour": "red"}), 422, "invalid"),
        (buy(None, sale.id, "k7"), 401, "not_authenticated"),
        (buy(None, sale.id, "k7b", extra={"Authorization": f"Bearer {third.token}x"}), 401,
         "not_authenticated"),
        # the session cookie from another site's page: refused before anything is read
        (buy(None, sale.id, "k7c", extra={"Cookie": f"{SESSION_COOKIE}={third.token}",
                                           "Origin": "https://evil.example"}), 403,
         "bad_origin"),
        (buy(third, 987_654_321, "k8"), 404, "sale_not_found"),
    ]
    for send, status, code in cases:
        fast, slow = await both_ways(send)
        assert fast.status_code == status, fast.text
        if code is not None:
            assert fast.json()["error"]["code"] == code
        else:
            assert fast.headers["idempotent-replayed"] == "true"
        assert fast.headers["x-request-id"].startswith("same-")
        same_reply(fast, slow)

    # sold out: the third unit goes, then both ways are refused alike
    assert (await buy(third, sale.id, "k9")()).status_code == 201
    refused_before = observed("POST", 409)
    fast, slow = await both_ways(buy(await make_user(), sale.id, "k10"))
    assert fast.json()["error"]["code"] == "sold_out"
    same_reply(fast, slow)
    assert observed("POST", 409) == refused_before + 2


async def test_other_methods_and_paths_go_on_to_starlette(client: httpx.AsyncClient,
                                                          app: Any) -> None:
    path = fast_path(app)
    handled = path.handled

    wrong_method = await client.get("/api/sales/1/buy")
    near_miss = await client.post("/api/sales/1/buy/")
    not_an_id = await client.post("/api/sales/abc/buy")

    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert near_miss.status_code in (307, 404)
    assert not_an_id.status_code == 404
    assert path.handled == handled


async def test_a_logged_out_token_and_a_crash_are_answered_alike_both_ways(
        client: httpx.AsyncClient, app: Any, make_user: Any, make_sale: Any,  # noqa: F811
        both_ways: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sale = await make_sale(quantity=5)
    gone, buyer = await make_user(), await make_user()
    headers = {"X-Request-ID": "same-request", "Idempotency-Key": "k1"}

    # a token whose user logged out (the principal was kept by an earlier request)
    assert (await client.get("/api/me", headers=gone.headers)).status_code == 200
    assert (await client.post("/api/auth/logout", headers=gone.headers)).status_code == 200
    fast, slow = await both_ways(lambda: client.post(
        f"/api/sales/{sale.id}/buy", json={"quantity": 1}, headers={**headers, **gone.headers}))
    assert fast.status_code == 401
    same_reply(fast, slow)

    # an error no handler answers: the server error middleware's 500, counted as a 500
    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(buying, "buy", crash)
    before = observed("POST", 500)
    replies = []
    for enabled in (True, False):
        monkeypatch.setattr(BuyFastPath, "enabled", enabled)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as raw:
            replies.append(await raw.post(f"/api/sales/{sale.id}/buy", json={"quantity": 1},
                                          headers={**headers, **buyer.headers}))
    fast, slow = replies
    assert fast.status_code == 500
    assert fast.json()["error"]["code"] == slow.json()["error"]["code"]
    assert fast.headers.get("x-request-id") == slow.headers.get("x-request-id")
    assert observed("POST", 500) == before + 2


async def big_reply(request: Request) -> Response:
    return Response(b'{"pad":"' + b"x" * 3000 + b'"}', status_code=201,
                    media_type="application/json")


def stacks() -> tuple[Any, Any]:
    """A buy route whose reply is over GZip's minimum size, behind the buy path's way in and
    behind the middleware it stands for."""
    route = Route("/api/sales/{sale_id:int}/buy", big_reply, methods=["POST"])
    plain = RequestObserver(GZipMiddleware(Starlette(routes=[route]),
                                           minimum_size=GZIP_MINIMUM_SIZE))
    fast = Starlette(routes=[route],
                     middleware=[Middleware(BuyFastPath, route=route)])
    return fast, plain


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_a_reply_over_gzips_minimum_is_sent_as_gzip_sends_it(encoding: str) -> None:
    fast, plain = stacks()
    replies = []
    for app in (fast, plain):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as http:
            replies.append(await http.post("/api/sales/7/buy", headers={
                "Accept-Encoding": encoding, "X-Request-ID": "big-1"}))
    fast_reply, plain_reply = replies
    assert fast_reply.status_code == plain_reply.status_code == 201
    assert fast_reply.headers.get("content-encoding") == plain_reply.headers.get(
        "content-encoding") == (encoding if encoding == "gzip" else None)
    assert fast_reply.headers["vary"] == plain_reply.headers["vary"] == "Accept-Encoding"
    assert fast_reply.headers["x-request-id"] == plain_reply.headers["x-request-id"] == "big-1"
    assert fast_reply.content == plain_reply.content
    assert list(fast_reply.headers.keys()) == list(plain_reply.headers.keys())
