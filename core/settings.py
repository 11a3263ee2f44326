"""Settings, read once from the environment, typed, failing fast with a clear message."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


class SettingsError(RuntimeError):
    """A setting is missing or malformed."""


class Secret:
    """A string that never prints itself (in logs, reprs or tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if not value.startswith(schemes):
        raise SettingsError(f"{name} must start with one of {', '.join(schemes)}; got {value!r}")
    return value


def normalize_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    celery_broker_url: str
    secret_key: Secret
    # Every Redis key and channel starts with this, so that several deployments
    # (or concurrent test runs) can share one Redis server without seeing each other.
    redis_prefix: str = "ls:"
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    session_cookie_secure: bool = False
    session_max_age_seconds: int = 14 * 24 * 3600
    order_hold_seconds: int = 600
    commission_return_window_days: int = 7
    chat_max_length: int = 300
    chat_min_interval_ms: int = 1000
    debug: bool = False
    # One JSON object per log line ("json", production's default) or plain text ("text").
    log_format: str = "text"
    # host:port of a separate /metrics listener for Prometheus (no auth: bind it privately);
    # empty: /metrics is served only by the app, to ops users.
    metrics_bind: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def load_settings() -> Settings:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not database_url:
        raise SettingsError(
            "DATABASE_URL is not set. `make run` sets it to an embedded PostgreSQL; "
            "otherwise point it at a server, e.g. postgresql://user@host:5432/livesell"
        )
    if not redis_url:
        raise SettingsError(
            "REDIS_URL is not set. `make run` sets it to an embedded Redis; "
            "otherwise point it at a server, e.g. redis://127.0.0.1:6379/0"
        )
    database_url = normalize_database_url(_url("DATABASE_URL", database_url, ("postgres",)))
    redis_url = _url("REDIS_URL", redis_url, ("redis://", "rediss://", "unix://"))
    broker = _url(
        "CELERY_BROKER_URL", redis_url, ("redis://", "rediss://", "unix://", "amqp://", "pyamqp://")
    )
    secret = os.environ.get("SECRET_KEY", "")
    if not secret:
        if os.environ.get("LIVESELL_ENV", "development") == "production":
            raise SettingsError("SECRET_KEY must be set in production")
        secret = "development-only-secret-key-change-me"
    origins = tuple(
        o.strip().rstrip("/")
        for o in os.environ.get("ALLOWED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000").split(",")
        if o.strip()
    )
    log_format = os.environ.get("LOG_FORMAT") or (
        "json" if os.environ.get("LIVESELL_ENV", "development") == "production" else "text")
    if log_format not in ("json", "text"):
        raise SettingsError(f"LOG_FORMAT must be json or text, got {log_format!r}")
    metrics_bind = os.environ.get("METRICS_BIND", "")
    if metrics_bind:
        _host, _, port = metrics_bind.rpartition(":")
        if not _host or not port.isdigit():
            raise SettingsError(f"METRICS_BIND must be host:port, got {metrics_bind!r}")
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        celery_broker_url=broker,
        secret_key=Secret(secret),
        redis_prefix=os.environ.get("REDIS_PREFIX", "ls:"),
        allowed_origins=origins,
        session_cookie_secure=os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        order_hold_seconds=_int("ORDER_HOLD_SECONDS", 600, minimum=1),
        commission_return_window_days=_int("COMMISSION_RETURN_WINDOW_DAYS", 7),
        chat_max_length=_int("CHAT_MAX_LENGTH", 300, minimum=1),
        chat_min_interval_ms=_int("CHAT_MIN_INTERVAL_MS", 1000),
        debug=os.environ.get("LIVESELL_DEBUG", "0") == "1",
        log_format=log_format,
        metrics_bind=metrics_bind,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
