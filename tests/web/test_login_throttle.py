"""Logins and sign-ups are throttled per account and per address, and hash off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from core import ratelimit, security
from core.context import Services
from core.security import PasswordHashing
from core.settings import Settings
from tests.conftest import poll_until


@pytest.fixture
def throttle(app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Change the throttle settings of the running app for one test."""

    def apply(**changes: Any) -> Settings:
        changed = replace(app.state.settings, **changes)
        monkeypatch.setitem(app.state._state, "settings", changed)
        return changed

    return apply


@pytest.fixture
async def client_at(app: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients that come from a given IP address."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/api/auth/login", json={"email": email, "password": password})


def _assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    error = response.json()["error"]
    assert error["code"] == "too_many_attempts" and error["retry_after"] == retry_after
    return retry_after


async def test_wrong_passwords_on_one_account_get_429_with_retry_after(client_at, make_user):
    user = await make_user("viewer")

    # each guess from another address: the account's own limit is what stops them
    wrong = [await _login(client_at(f"10.0.1.{n}"), user.email, "nope") for n in range(5)]
    refused = await _login(client_at("10.0.1.99"), user.email, "nope")
    right_while_locked = await _login(client_at("10.0.1.98"), user.email, user.password)

    assert [r.status_code for r in wrong] == [401] * 5
    assert _assert_throttled(refused) <= 60
    _assert_throttled(right_while_locked)


async def test_an_unknown_account_is_throttled_like_a_real_one(client):
    answers = [await _login(client, "nobody@example.com", "nope") for _ in range(6)]

    assert [r.status_code for r in answers] == [401] * 5 + [429]


@pytest.mark.redis6
async def test_the_right_password_works_after_the_lockout_and_clears_the_failures(
        client, make_user, throttle):
    throttle(login_lockout_seconds=1)
    user = await make_user("viewer")
    for _ in range(5):
        await _login(client, user.email, "nope")

    async def logged_in() -> bool:
        # a refused attempt is not counted, so asking again and again changes nothing
        return (await _login(client, user.email, user.password)).status_code == 200

    await poll_until(logged_in, timeout=10, interval=0.2, message="the lockout to end")

    # the success forgot the failures: four more wrong passwords are answered, not refused
    again = [await _login(client, user.email, "nope") for _ in range(4)]
    assert [r.status_code for r in again] == [401] * 4


async def test_each_failure_after_a_lockout_locks_for_twice_as_long(
        client, make_user, throttle, services: Services):
    throttle(login_failures_per_account=2, login_lockout_seconds=60)
    user = await make_user("viewer")
    _, lock = ratelimit.account_keys(services.keys, user.email)
    for _ in range(2):
        await _login(client, user.email, "nope")
    first = _assert_throttled(await _login(client, user.email, "nope"))

    await services.redis.delete(lock)  # the minute passes
    after = await _login(client, user.email, "nope")
    second = _assert_throttled(await _login(client, user.email, "nope"))

    assert first <= 60 and after.status_code == 401 and 60 < second <= 120


async def test_failures_from_one_address_across_accounts_get_429(client_at, throttle):
    throttle(login_failures_per_address=4)
    attacker = client_at("10.0.2.1")

    spray = [await _login(attacker, f"victim{n}@example.com", "Summer2026!") for n in range(4)]
    refused = await _login(attacker, "victim9@example.com", "Summer2026!")
    elsewhere = await _login(client_at("10.0.2.2"), "victim9@example.com", "Summer2026!")

    assert [r.status_code for r in spray] == [401] * 4
    assert _assert_throttled(refused) <= 60
    assert elsewhere.status_code == 401


async def test_successful_logins_do_not_use_up_the_address_limit(client, make_user, throttle):
    throttle(login_failures_per_address=2)
    user = await make_user("viewer")

    answers = [await _login(client, user.email, user.password) for _ in range(4)]

    assert [r.status_code for r in answers] == [200] * 4


async def test_signups_from_one_address_are_throttled(client_at, throttle):
    throttle(signups_per_address=3)

    def body(n: int) -> dict[str, str]:
        return {"email": f"new{n}@example.com", "password": "password123", "display_name": "N"}

    first = client_at("10.0.3.1")
    created = [await first.post("/api/auth/signup", json=body(n)) for n in range(3)]
    refused = await first.post("/api/auth/signup", json=body(3))
    elsewhere = await client_at("10.0.3.2").post("/api/auth/signup", json=body(4))

    assert [r.status_code for r in created] == [201] * 3
    assert _assert_throttled(refused) <= 600
    assert elsewhere.status_code == 201


class HeldHashes:
    """Replaces the password check with one that waits, in whatever thread runs it, until
    released, and notes that thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        self.real = security.verify_password

    def verify(self, password_hash: str, password: str) -> bool:
        self.threads.append(threading.get_ident())
        self.started.set()
        # Bounded, so that a check run on the event loop fails the test instead of hanging it.
        self.release.wait(timeout=5)
        return self.real(password_hash, password)


async def test_passwords_are_checked_off_the_event_loop_which_keeps_serving(
        client, make_user, monkeypatch: pytest.MonkeyPatch):
    user = await make_user("viewer")
    held = HeldHashes()
    monkeypatch.setattr(security, "verify_password", held.verify)
    loop_thread = threading.get_ident()

    logins = [asyncio.create_task(_login(client, user.email, "nope")) for _ in range(3)]

    async def hashing() -> bool:
        return held.started.is_set()

    await poll_until(hashing, message="a password check to start")
    # While every login waits on its hash, the loop still answers other requests.
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert not any(task.done() for task in logins)
    held.release.set()
    answers = await asyncio.gather(*logins)

    assert [r.status_code for r in answers] == [401] * 3
    assert held.threads and loop_thread not in held.threads


@pytest.mark.redis6
async def test_a_login_flood_past_the_hashing_queue_is_refused_with_503(
        client_at, make_user, throttle, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest):
    throttle(login_failures_per_account=3)
    user = await make_user("viewer")
    held = HeldHashes()
    monkeypatch.setattr(security, "verify_password", held.verify)
    small = PasswordHashing(workers=1, max_pending=2)
    monkeypatch.setattr(security, "_hashing", small)
    request.addfinalizer(small.close)

    # one hash running, one waiting: the queue is full
    logins = [asyncio.create_task(_login(client_at(f"10.0.4.{n}"), user.email, "nope"))
              for n in range(2)]

    async def full() -> bool:
        return small.pending == 2 and held.started.is_set()

    await poll_until(full, message="the hashing queue to fill")
    busy = await _login(client_at("10.0.4.9"), user.email, "nope")
    held.release.set()
    answers = await asyncio.gather(*logins)

    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert busy.json()["error"]["code"] == "busy"
    assert [r.status_code for r in answers] == [401, 401]
    # The refused login was not counted against the account: its third failure is answered.
    assert (await _login(client_at("10.0.4.10"), user.email, "nope")).status_code == 401
    _assert_throttled(await _login(client_at("10.0.4.11"), user.email, "nope"))


async def test_the_hashing_pool_refuses_past_its_bound_and_frees_slots_when_done():
    release = threading.Event()
    pool = PasswordHashing(workers=1, max_pending=2)
    try:
        held = [asyncio.ensure_future(pool._run(lambda: release.wait(5))) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(security.HashingBusy):
            await pool._run(lambda: True)
        release.set()
        assert await asyncio.gather(*held) == [True, True]
        assert pool.pending == 0
        assert await pool.verify(security.hash_password("password123"), "password123")
    finally:
        pool.close()
