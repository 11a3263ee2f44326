"""Sign up, log in, cookies, bearer tokens, logout, and cross-site protection."""

from __future__ import annotations

import asyncio
import contextlib
import time
from asyncio import Task
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from core.accounts import User
from core.context import Services
from core.redis import make_redis
from core.security import sign_token
from tests.conftest import poll_until
from web.auth import SESSION_COOKIE, PrincipalCache, VerifiedTokens, watch_revocations


@pytest.mark.redis6
async def test_signup_then_login_with_cookie_and_token(client, services: Services):
    signup = await client.post("/api/auth/signup", json={
        "email": "Ana@Example.com", "password": "correct horse", "display_name": "Ana"})
    assert signup.status_code == 201
    assert signup.json()["user"]["role"] == "viewer"
    cookie = signup.cookies.get(SESSION_COOKIE)
    assert cookie and "httponly" in signup.headers["set-cookie"].lower()
    assert "samesite=lax" in signup.headers["set-cookie"].lower()

    async with services.db.session() as session:
        stored = await session.scalar(select(User).where(User.email == "ana@example.com"))
    assert stored is not None and stored.password_hash.startswith("$argon2")

    login = await client.post("/api/auth/login", json={"email": "ana@example.com",
                                                       "password": "correct horse"})
    token = login.json()["token"]
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["display_name"] == "Ana"


async def test_wrong_password_is_401_and_names_no_account(client, make_user):
    user = await make_user("viewer")

    wrong = await client.post("/api/auth/login", json={"email": user.email, "password": "nope"})
    unknown = await client.post("/api/auth/login", json={"email": "x@y.z", "password": "nope"})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_duplicate_email_and_weak_password_are_refused(client, make_user):
    user = await make_user("viewer")

    taken = await client.post("/api/auth/signup", json={
        "email": user.email, "password": "longenough", "display_name": "X"})
    weak = await client.post("/api/auth/signup", json={
        "email": "new@example.com", "password": "short", "display_name": "X"})
    ops = await client.post("/api/auth/signup", json={
        "email": "boss@example.com", "password": "longenough", "display_name": "X", "role": "ops"})

    assert taken.status_code == 409 and taken.json()["error"]["field"] == "email"
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"
    assert ops.status_code == 403 and ops.json()["error"]["field"] == "role"


async def test_logout_revokes_every_token(client, make_user):
    user = await make_user("host")

    await client.post("/api/auth/logout", headers=user.headers)

    assert (await client.get("/api/me", headers=user.headers)).status_code == 401


async def test_cookie_request_from_another_site_is_refused(client, make_user, services: Services):
    host = await make_user("host")
    client.cookies.set(SESSION_COOKIE, host.token)

    evil = await client.post("/api/rooms", json={"title": "CSRF"},
                             headers={"Origin": "https://evil.example"})
    no_origin = await client.post("/api/rooms", json={"title": "CSRF"})
    own = await client.post("/api/rooms", json={"title": "Mine"},
                            headers={"Origin": "http://127.0.0.1:8000"})

    assert evil.status_code == 403 and evil.json()["error"]["code"] == "bad_origin"
    assert no_origin.status_code == 403
    assert own.status_code == 201


async def test_tampered_token_is_a_guest(client, make_user):
    user = await make_user("viewer")
    tampered = user.token[:-2] + ("AA" if not user.token.endswith("AA") else "BB")

    response = await client.get("/api/me", headers={"Authorization": f"Bearer {tampered}"})

    assert response.status_code == 401


def test_principal_cache_forgets_entries_after_their_lifetime_and_on_logout():
    from web.auth import PrincipalCache

    cache = PrincipalCache(ttl_seconds=60)
    cache.put((7, 1), None)
    assert cache.get((7, 1)) == (True, None)
    cache.forget_user(7)
    assert cache.get((7, 1)) == (False, None)

    expired = PrincipalCache(ttl_seconds=-1)
    expired.put((7, 1), None)
    assert expired.get((7, 1)) == (False, None)

    bounded = PrincipalCache(max_entries=2)
    for user_id in (1, 2, 3):
        bounded.put((user_id, 1), None)
    assert bounded.get((1, 1))[0] is False and bounded.get((3, 1))[0] is True


@pytest.mark.redis6
async def test_the_account_is_kept_in_redis_and_a_logout_writes_the_new_version(
        client, make_user, services: Services):
    from web.auth import ACCOUNT_CACHE_SECONDS, Account, remember_account

    user = await make_user("host")
    key = services.keys.user(user.id, "account")

    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    assert await services.redis.hget(key, "r") == b"host"
    assert 0 < await services.redis.ttl(key) <= ACCOUNT_CACHE_SECONDS

    await client.post("/api/auth/logout", headers=user.headers)

    # the new version is what every process now reads, and a stale write cannot undo it
    assert await services.redis.hget(key, "v") == b"2"
    await remember_account(services.redis, services.keys,
                           Account(user.id, user.display_name, "host", 1))
    assert await services.redis.hget(key, "v") == b"2"
    assert (await client.get("/api/me", headers=user.headers)).status_code == 401


async def test_login_keeps_the_account_for_later_requests(client, make_user, services: Services):
    user = await make_user("viewer")

    await client.post("/api/auth/login", json={"email": user.email, "password": user.password})

    assert await services.redis.hget(services.keys.user(user.id, "account"), "v") == b"1"


async def test_a_logout_in_another_process_is_heard_and_its_tokens_refused(
        client, make_user, services: Services):
    import time

    from sqlalchemy import update

    from tests.conftest import poll_until
    from web.auth import Account, principal_cache, remember_account, revocations_channel

    # given a viewer whose principal this process cached while watching the revocations
    user = await make_user("viewer")

    async def watched() -> bool:
        return principal_cache.watched

    await poll_until(watched)
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    entry = principal_cache._entries[(user.id, 1)]
    assert entry[0] - time.monotonic() > principal_cache.ttl_seconds  # kept long while watched

    # when another process logs the viewer out (a new version in PostgreSQL and Redis, then
    # the revocation published), which this process does not see happen
    async with services.db.transaction() as session:
        await session.execute(update(User).where(User.id == user.id)
                              .values(token_version=User.token_version + 1))
    await remember_account(services.redis, services.keys,
                           Account(user.id, user.display_name, "viewer", 2))
    await services.redis.publish(revocations_channel(services.keys), str(user.id))

    # then this process forgets the cached principal, and the old token is refused
    async def forgotten() -> bool:
        return not principal_cache.get((user.id, 1))[0]

    await poll_until(forgotten)
    assert (await client.get("/api/me", headers=user.headers)).status_code == 401


def test_a_lookup_that_raced_a_revocation_is_not_cached():
    from web.auth import Account, PrincipalCache

    cache = PrincipalCache()
    since = cache.invalidations
    # the account was read before a logout that was heard while the read was under way
    cache.forget_user(9)
    cache.put((7, 1), Account(7, "v", "viewer", 1), since=since)
    assert cache.get((7, 1)) == (False, None)
    cache.put((7, 1), Account(7, "v", "viewer", 1), since=cache.invalidations)
    assert cache.get((7, 1))[0] is True


@contextlib.asynccontextmanager
async def watched_cache(services: Services,
                        ) -> AsyncIterator[tuple[PrincipalCache, Task[None], Redis]]:
    """A principal cache whose revocations watch (on its own Redis client, given too) has
    subscribed; the watch is stopped and its client closed at the end."""
    redis = make_redis(services.settings.redis_url)
    cache = PrincipalCache()
    task = asyncio.get_running_loop().create_task(watch_revocations(redis, services.keys, cache))
    try:
        await poll_until(watching(cache))
        yield cache, task, redis
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=10)
        await redis.aclose()


def watching(cache: PrincipalCache) -> Callable[[], Awaitable[bool]]:
    async def watched() -> bool:
        return cache.watched

    return watched


@pytest.mark.redis6
async def test_losing_the_revocations_channel_forgets_every_cached_principal(
        services: Services):
    # given a cache kept long because its process watches the revocations channel
    async with watched_cache(services) as (cache, _, redis):
        cache.put((7, 1), None)
        assert cache.get((7, 1)) == (True, None)

        # when the subscription's connection drops
        await redis.connection_pool.disconnect()

        # then the cache forgets everything (a logout may have gone unheard), and the watch
        # subscribes again
        async def forgotten() -> bool:
            return not cache.get((7, 1))[0]

        await poll_until(forgotten)
        await poll_until(watching(cache))


async def test_the_revocations_watch_stops_even_when_its_read_swallows_the_cancel(
        services: Services, monkeypatch):
    """A cancel landing as the read's own timeout fires came out of redis-py's get_message as a
    plain timeout (None) once: the watch then listened on forever and a test session's
    teardown, waiting for it, hung. The watch checks that it was asked to stop after every
    read, and the shutdown waits for it a bounded time."""
    from redis.asyncio.client import PubSub

    from web.auth import stop_watch

    real_get_message = PubSub.get_message
    swallowed = []

    async def swallowing_get_message(self, *args, **kwargs):
        try:
            return await real_get_message(self, *args, **kwargs)
        except asyncio.CancelledError:
            swallowed.append(True)
            return None  # what the library's timeout path answers

    monkeypatch.setattr(PubSub, "get_message", swallowing_get_message)
    async with watched_cache(services) as (cache, task, _):
        # when the process shuts down while the watch waits in a read
        await stop_watch(task)
        # then the read swallowed the cancel, and the watch ended all the same
        assert swallowed
        assert task.done()
        assert not cache.watched


def test_a_verified_token_answers_as_reading_it_would(monkeypatch):
    tokens = VerifiedTokens(max_entries=2)
    token = sign_token("secret", 7, 3, 60)

    assert tokens.read("secret", token) == (7, 3)
    assert tokens.read("secret", token) == (7, 3)  # kept
    # another secret (another app in the process) checks the signature again, and fails
    assert tokens.read("other", token) is None
    assert tokens.read("secret", token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    # expired since it was kept
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert tokens.read("secret", token) is None
