"""Who is asking: the session cookie (pages) or a bearer token (JSON API).

Cookie-authenticated requests that change state, and cookie-authenticated
websockets, must come from one of the app's own origins, so that a cross-site
page cannot act as the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from core.accounts import Role, User
from core.errors import NotAuthenticated, PermissionDenied
from core.redis import Keys, LuaScript
from core.security import read_token, sign_token
from core.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "livesell_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request, detached from any database session."""

    id: int
    display_name: str
    role: str
    via_cookie: bool

    @property
    def is_ops(self) -> bool:
        return self.role == Role.OPS

    def public(self) -> dict[str, object]:
        return {"id": self.id, "display_name": self.display_name, "role": self.role}


@dataclass(frozen=True)
class Account:
    """What a request needs of its user: enough to authorize, nothing to write."""

    id: int
    display_name: str
    role: str
    token_version: int

    @classmethod
    def of(cls, user: User) -> Account:
        return cls(user.id, user.display_name, user.role, user.token_version)


# How long Redis keeps a user's account for request authentication. A logout writes the new
# token version at once, so this only bounds memory for users who went away.
ACCOUNT_CACHE_SECONDS = 24 * 3600

REMEMBER_ACCOUNT = LuaScript(Path(__file__).parent / "scripts" / "remember_account.lua")


def _account_key(keys: Keys, user_id: int) -> str:
    return keys.user(user_id, "account")


async def remember_account(redis: aioredis.Redis, keys: Keys, account: Account) -> None:
    """Keep the account in Redis (at signup, login, a first read, a logout's new version)."""
    await REMEMBER_ACCOUNT.bind(redis)(
        keys=[_account_key(keys, account.id)],
        args=[account.display_name, account.role, account.token_version, ACCOUNT_CACHE_SECONDS])


async def load_account(conn: HTTPConnection, user_id: int) -> Account | None:
    """The account from Redis (one HGETALL), else from PostgreSQL (then kept in Redis): a
    flash sale's burst of buyers must not each cost a database session."""
    redis: aioredis.Redis = conn.app.state.redis
    keys: Keys = conn.app.state.keys
    cached: dict[bytes, bytes] | None
    try:
        cached = await redis.hgetall(_account_key(keys, user_id))  # type: ignore[assignment]
    except Exception:  # Redis down: PostgreSQL is the truth and still answers
        cached = None
    if cached:
        return Account(user_id, cached[b"n"].decode(), cached[b"r"].decode(), int(cached[b"v"]))
    async with conn.app.state.db.session() as session:
        user = await session.get(User, user_id)
    if user is None:
        return None
    account = Account.of(user)
    with contextlib.suppress(Exception):  # a cache: the next request reads PostgreSQL again
        await remember_account(redis, keys, account)
    return account


def revocations_channel(keys: Keys) -> str:
    return keys("auth", "revoked")


async def revoked(conn: HTTPConnection, account: Account) -> None:
    """After the user's tokens were revoked (`account` has the new version): this process
    forgets at once, Redis holds the new version, and every other process hears it on the
    revocations channel and forgets too (`watch_revocations`)."""
    principal_cache.forget_user(account.id)
    redis: aioredis.Redis = conn.app.state.redis
    await remember_account(redis, conn.app.state.keys, account)
    await redis.publish(revocations_channel(conn.app.state.keys), str(account.id))


class PrincipalCache:
    """Recently resolved users, so that a burst of requests (a flash sale) does not look each
    one up, in Redis or PostgreSQL. An entry is keyed by (user id, token version). A logout
    bumps the version; this process forgets the user at once, and the others when they hear it
    on the revocations channel.

    How long an entry lives depends on that channel: while this process is subscribed to it
    (`watched`), `watched_ttl_seconds` (a flash sale's length: a viewer who opened the room is
    still known when they press buy); otherwise `ttl_seconds`, a few seconds, which bounds how
    long another process's logout may go unheard. Losing the subscription forgets everything.
    A lookup that raced a revocation is not kept: `put` is refused when any user was forgotten
    since the lookup began (`invalidations`), so an account read before the logout cannot be
    cached after the logout was heard."""

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 100_000,
                 watched_ttl_seconds: float = 600.0) -> None:
        self.ttl_seconds = ttl_seconds
        self.watched_ttl_seconds = watched_ttl_seconds
        self.max_entries = max_entries
        self.watchers = 0
        self.invalidations = 0
        self._entries: OrderedDict[tuple[int, int], tuple[float, Account | None]] = OrderedDict()

    @property
    def watched(self) -> bool:
        return self.watchers > 0

    def get(self, key: tuple[int, int]) -> tuple[bool, Account | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: tuple[int, int], user: Account | None, *,
            since: int | None = None) -> None:
        """Keep a lookup; `since` is `invalidations` as it was when the lookup began."""
        if since is not None and since != self.invalidations:
            return
        ttl = self.watched_ttl_seconds if self.watched else self.ttl_seconds
        self._entries[key] = (time.monotonic() + ttl, user)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        self.invalidations += 1
        for key in [k for k in self._entries if k[0] == user_id]:
            del self._entries[key]

    def forget_all(self) -> None:
        self.invalidations += 1
        self._entries.clear()


principal_cache = PrincipalCache()


class VerifiedTokens:
    """Tokens whose signature was checked, so that a buyer's every request does not compute
    the HMAC again: token -> (secret, user id, version, expiry). A token is a pure function of
    those, so a kept entry answers exactly as `read_token` would, the expiry checked each time.
    Emptied when full."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, int, int, int]] = {}

    def read(self, secret: str, token: str) -> tuple[int, int] | None:
        entry = self._entries.get(token)
        if entry is not None and entry[0] == secret:
            if entry[3] < time.time():
                return None
            return entry[1], entry[2]
        parsed = read_token(secret, token)
        if parsed is not None:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[token] = (secret, parsed[0], parsed[1], int(token.split(".")[2]))
        return parsed


verified_tokens = VerifiedTokens()


# The watch sends a PING this often and, if no answer comes within the same time, takes the
# subscription for lost: a connection that died silently is noticed as fast as an entry of the
# unwatched cache expires, so a logout never goes unheard for longer than without the watch.
REVOCATION_PING_SECONDS = 2.0
# Between attempts to subscribe again after the channel was lost.
REVOCATION_RETRY_SECONDS = 1.0
# How long a shutdown waits for the watch to end once cancelled.
REVOCATION_STOP_SECONDS = 5.0


async def stop_watch(watch: asyncio.Task[None]) -> None:
    """Cancel the revocations watch and wait for it, for a bounded time: a shutdown (and a
    test session's teardown) must not hang on a task that did not hear its cancel."""
    watch.cancel()
    done, _ = await asyncio.wait({watch}, timeout=REVOCATION_STOP_SECONDS)
    if not done:
        log.error("the revocations watch did not stop within %.0f s", REVOCATION_STOP_SECONDS)


async def watch_revocations(redis: aioredis.Redis, keys: Keys,
                            cache: PrincipalCache | None = None) -> None:
    """Forget the users whose tokens another process revoked, for as long as it runs (a task
    of the web app's lifespan). While subscribed, the cache keeps entries long; when the
    subscription is lost it forgets everything and keeps entries only briefly until it is back.
    """
    cache = cache or principal_cache
    channel = revocations_channel(keys)
    while True:
        pubsub = redis.pubsub()
        counted = False
        try:
            await pubsub.subscribe(channel)
            confirmed = await pubsub.get_message(timeout=REVOCATION_PING_SECONDS)
            if confirmed is None or confirmed["type"] != "subscribe":
                raise ConnectionError("no subscription confirmed")
            cache.watchers += 1
            counted = True
            await _listen(pubsub, cache)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("revocations channel lost; principals are cached briefly until it is "
                        "back", exc_info=True)
        finally:
            if counted:
                cache.watchers -= 1
                cache.forget_all()
            # Bounded: at shutdown the client's pool may be closing under it, and a close
            # that waits for it must not hold the app's lifespan (or a test session) open.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(pubsub.aclose()),
                                       REVOCATION_PING_SECONDS)
        await asyncio.sleep(REVOCATION_RETRY_SECONDS)


async def _listen(pubsub: aioredis.client.PubSub, cache: PrincipalCache) -> None:
    pinged_at = time.monotonic()
    waiting_for_pong = False
    task = asyncio.current_task()
    while True:
        message = await pubsub.get_message(timeout=REVOCATION_PING_SECONDS / 2)
        # A cancel that lands as the read's own timeout fires can come out of redis-py's
        # get_message as a plain timeout (None): the task stays asked to cancel, and without
        # this check it would go on listening forever under a shutdown that waits for it.
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        now = time.monotonic()
        if message is not None:
            if message["type"] == "message":
                with contextlib.suppress(ValueError):
                    cache.forget_user(int(message["data"]))
            elif message["type"] == "pong":
                waiting_for_pong = False
        if waiting_for_pong and now - pinged_at > REVOCATION_PING_SECONDS:
            raise ConnectionError("the revocations channel did not answer a PING")
        if not waiting_for_pong and now - pinged_at > REVOCATION_PING_SECONDS:
            await pubsub.ping()
            pinged_at, waiting_for_pong = now, True


def issue_token(settings: Settings, user: User) -> str:
    return sign_token(settings.secret_key.reveal(), user.id, user.token_version,
                      settings.session_max_age_seconds)


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        referer = conn.headers.get("referer")
        if referer is None:
            return False
        parts = referer.split("/")
        origin = "/".join(parts[:3])
    origin = origin.rstrip("/")
    if origin in settings.allowed_origins:
        return True
    # The app's own host, whatever port it was started on (tests, `make run` on another port).
    host = conn.headers.get("host")
    return host is not None and origin in (f"http://{host}", f"https://{host}")


def refuse_cross_site(conn: HTTPConnection, settings: Settings) -> None:
    """Log in and sign up only from the app's own pages (no login CSRF: a cross-site form
    must not sign the visitor in to the attacker's account). Browsers send `Origin` on every
    POST (or at least `Referer`); a request with neither is not a browser's (an API client,
    a script) and cannot carry a victim's cookies or act for them, so it is let through."""
    if conn.headers.get("origin") is None and conn.headers.get("referer") is None:
        return
    if not origin_allowed(conn, settings):
        raise PermissionDenied("cross-site request refused", code="bad_origin")


def client_address(conn: HTTPConnection) -> str:
    """The client's IP address, for throttles. Behind a reverse proxy this is the proxy's,
    unless uvicorn runs with --proxy-headers and --forwarded-allow-ips naming the proxy
    (then X-Forwarded-For decides it): see README, "Accounts"."""
    return conn.client.host if conn.client is not None else "unknown"


def _token_from(conn: HTTPConnection) -> tuple[str | None, bool]:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, True
    return None, False


async def resolve_principal(conn: HTTPConnection) -> Principal | None:
    """The user behind the request, or None for a guest. Cached on the connection."""
    if "principal" in conn.scope:
        cached: Principal | None = conn.scope["principal"]
        return cached
    settings: Settings = conn.app.state.settings
    token, via_cookie = _token_from(conn)
    principal: Principal | None = None
    if token:
        parsed = verified_tokens.read(settings.secret_key.reveal(), token)
        if parsed is not None:
            user_id, version = parsed
            found, user = principal_cache.get(parsed)
            if not found:
                since = principal_cache.invalidations
                user = await load_account(conn, user_id)
                principal_cache.put(parsed, user, since=since)
            if user is not None and user.token_version == version:
                principal = Principal(user.id, user.display_name, user.role, via_cookie)
    conn.scope["principal"] = principal
    return principal


async def require_user(conn: HTTPConnection, *roles: Role) -> Principal:
    principal = await resolve_principal(conn)
    if principal is None:
        raise NotAuthenticated("log in to do this")
    if (principal.via_cookie and conn.scope["type"] == "http"
            and conn.scope.get("method") in UNSAFE_METHODS
            and not origin_allowed(conn, conn.app.state.settings)):
        raise PermissionDenied("cross-site request refused", code="bad_origin")
    if roles and principal.role not in roles and principal.role != Role.OPS:
        raise PermissionDenied(f"needs the {' or '.join(r.value for r in roles)} role",
                               code="wrong_role")
    return principal
