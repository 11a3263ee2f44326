"""Throttles for logins and sign-ups, counted in Redis so that every web process shares them.

- Per account (the email, whether or not it exists, so a 429 reveals nothing): a few failed
  logins in a window, then a lockout that doubles with each further failure. The right
  password clears the count.
- Per client address: failed and in-flight logins in a fixed window (a successful login gives
  its hit back, so many people behind one NAT can still sign in), and sign-ups.

Refusals raise `RateLimited` (429) with the seconds to wait, which the web edge sends as
`Retry-After`. The scripts use only commands Redis 6.2 has (the `make run` Redis).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import redis.asyncio as aioredis

from core.errors import RateLimited
from core.redis import Keys, LuaScript
from core.settings import Settings

_SCRIPTS = Path(__file__).parent / "scripts"
LIMIT_HIT = LuaScript(_SCRIPTS / "limit_hit.lua")
LIMIT_REFUND = LuaScript(_SCRIPTS / "limit_refund.lua")
LOGIN_ATTEMPT = LuaScript(_SCRIPTS / "login_attempt.lua")
LOGIN_REFUND = LuaScript(_SCRIPTS / "login_refund.lua")


def _refused(wait_ms: int, message: str) -> RateLimited:
    return RateLimited(message, code="too_many_attempts",
                       retry_after_seconds=max(1, math.ceil(wait_ms / 1000)))


def account_keys(keys: Keys, email: str) -> list[str]:
    # Hashed: no addresses in Redis, and a key of bounded length whatever was typed. One hash
    # tag for both keys, so that one script may touch them on a Redis Cluster.
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    base = keys.prefix + "login:{" + digest + "}"
    return [base + ":failures", base + ":lock"]


def _address_key(keys: Keys, action: str, address: str) -> str:
    return keys("throttle", action, address)


async def _hit(redis: aioredis.Redis, key: str, limit: int, window_seconds: int) -> int:
    wait_ms: int = await LIMIT_HIT.bind(redis)(keys=[key], args=[limit, window_seconds * 1000])
    return wait_ms


async def begin_login(redis: aioredis.Redis, keys: Keys, settings: Settings, *, email: str,
                      address: str) -> None:
    """Count a login attempt before its password is checked; raise `RateLimited` if the
    address or the account has had too many failures."""
    wait_ms = await _hit(redis, _address_key(keys, "login", address),
                         settings.login_failures_per_address, settings.login_address_window_seconds)
    if wait_ms:
        raise _refused(wait_ms, "too many failed sign-ins from this address; wait and retry")
    wait_ms = await LOGIN_ATTEMPT.bind(redis)(
        keys=account_keys(keys, email),
        args=[settings.login_failures_per_account, settings.login_failure_window_seconds * 1000,
              settings.login_lockout_seconds * 1000, settings.login_lockout_max_seconds * 1000])
    if wait_ms:
        raise _refused(wait_ms, "too many failed sign-ins to this account; wait and retry")


async def login_succeeded(redis: aioredis.Redis, keys: Keys, *, email: str, address: str) -> None:
    """The right password: forget the account's failures and give the address its hit back."""
    await redis.delete(*account_keys(keys, email))
    await LIMIT_REFUND.bind(redis)(keys=[_address_key(keys, "login", address)])


async def login_unchecked(redis: aioredis.Redis, keys: Keys, *, email: str, address: str) -> None:
    """The password was never checked (the server was too busy): give back what
    `begin_login` counted, so that a busy server does not lock its users out."""
    await LOGIN_REFUND.bind(redis)(keys=account_keys(keys, email))
    await LIMIT_REFUND.bind(redis)(keys=[_address_key(keys, "login", address)])


async def begin_signup(redis: aioredis.Redis, keys: Keys, settings: Settings, *,
                       address: str) -> None:
    """Count a sign-up from this address; raise `RateLimited` past the limit."""
    wait_ms = await _hit(redis, _address_key(keys, "signup", address),
                         settings.signups_per_address, settings.signup_address_window_seconds)
    if wait_ms:
        raise _refused(wait_ms, "too many sign-ups from this address; wait and retry")


async def hit_share_visit(redis: aioredis.Redis, keys: Keys, settings: Settings, *,
                          address: str) -> None:
    """Count a visit through a share link from this client; raise `RateLimited` past the
    limit (docs/social.md). Counted before the code is read, so guessing codes is throttled
    too."""
    shares = settings.shares
    wait_ms = await _hit(redis, _address_key(keys, "share_visit", address),
                         shares.visits_per_client, shares.visit_window_seconds)
    if wait_ms:
        raise _refused(wait_ms, "too many share-link visits from this address; wait and retry")
