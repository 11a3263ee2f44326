"""Password hashing (argon2) and signed tokens for the session cookie and bearer tokens.

Argon2 costs a fifth of a second of CPU per hash on a small machine, on purpose. Run on the
event loop, a handful of logins a second stalls every request and websocket of the process,
so the async callers hash in a few worker threads (argon2-cffi releases the GIL while it
hashes), and refuse outright when too many hashes are already waiting.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import Unavailable

_hasher = PasswordHasher()
_dummy_hash: str | None = None

T = TypeVar("T")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def dummy_hash() -> str:
    """A hash of no one's password at the current cost: checked against when a login names
    an unknown account, so that it takes as long as a real check."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-real-password")
    return _dummy_hash


def configure_password_cost(time_cost: int, memory_kib: int) -> None:
    """Argon2's cost for new hashes (settings.password_hash_time_cost and _memory_kib)."""
    global _hasher, _dummy_hash
    if (time_cost, memory_kib) != (_hasher.time_cost, _hasher.memory_cost):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _dummy_hash = None
    dummy_hash()  # made now, so that no login pays for it


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class HashingBusy(Unavailable):
    """Too many password hashes are waiting: retry in a moment."""

    code = "busy"

    def __init__(self) -> None:
        super().__init__("too many sign-ins at once; try again in a moment",
                         retry_after_seconds=1)


class PasswordHashing:
    """Argon2 in `workers` threads, at most `max_pending` hashes queued or running.

    A flood of logins queues here, not on the event loop; past the bound a caller gets
    `HashingBusy` at once instead of waiting behind hundreds of hashes."""

    def __init__(self, workers: int, max_pending: int) -> None:
        self.workers = workers
        self.max_pending = max(max_pending, workers)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="password-hash")
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    async def _run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._pending >= self.max_pending:
                raise HashingBusy()
            self._pending += 1
        # Counted down when the thread finishes, not when the caller stops waiting: a
        # cancelled request's hash still occupies a worker until it ends.
        try:
            future = self._executor.submit(work)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    async def hash(self, password: str) -> str:
        return await self._run(lambda: hash_password(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(lambda: verify_password(password_hash, password))

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def default_hash_workers() -> int:
    # One thread per core this process may run on: more would only queue inside the OS.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Replaced from settings when the web app starts (`configure_password_hashing`); this default
# serves the CLI, the seed and the tests' factories.
_hashing = PasswordHashing(default_hash_workers(), 9 * default_hash_workers())


def configure_password_hashing(workers: int, queue_per_worker: int) -> PasswordHashing:
    """Size the hashing threads (workers 0: one per core). Returns the pool now in use."""
    global _hashing
    workers = workers or default_hash_workers()
    max_pending = workers + workers * queue_per_worker
    if (workers, max_pending) != (_hashing.workers, _hashing.max_pending):
        previous, _hashing = _hashing, PasswordHashing(workers, max_pending)
        previous.close()  # hashes already running finish; their callers still get the result
    return _hashing


async def hash_password_off_loop(password: str) -> str:
    return await _hashing.hash(password)


async def verify_password_off_loop(password_hash: str, password: str) -> bool:
    return await _hashing.verify(password_hash, password)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(secret: str, user_id: int, token_version: int, max_age_seconds: int,
               *, now: float | None = None) -> str:
    """`user_id.version.expires.signature`. The version lets a user log out everywhere:
    bumping it in the database invalidates every token issued before."""
    expires = int((now if now is not None else time.time()) + max_age_seconds)
    payload = f"{user_id}.{token_version}.{expires}"
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def read_token(secret: str, token: str, *, now: float | None = None) -> tuple[int, int] | None:
    """Return (user_id, token_version) for a valid, unexpired token, else None."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    user_id, version, expires, signature = parts
    payload = f"{user_id}.{version}.{expires}"
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        if int(expires) < (now if now is not None else time.time()):
            return None
        return int(user_id), int(version)
    except ValueError:
        return None


def share_signature(secret: str, payload: str) -> str:
    """A share code's signature: HMAC-SHA256 under its own label (so no other signed value of
    the app can pass for a share code), cut to 128 bits, which is past guessing."""
    digest = hmac.new(secret.encode(), b"share-link:" + payload.encode(), hashlib.sha256)
    return _b64(digest.digest()[:16])


def share_signature_matches(secret: str, payload: str, signature: str) -> bool:
    return hmac.compare_digest(share_signature(secret, payload), signature)
