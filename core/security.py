"""Password hashing (argon2) and signed tokens for the session cookie and bearer tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


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
