"""Settings, read once from the environment, typed, failing fast with a clear message."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit


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


def _given(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty (the setting's default)."""
    return os.environ.get(name) or None


def _int(name: str, default: int, minimum: int = 0) -> int:
    if (raw := _given(name)) is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(name: str, default: bool) -> bool:
    if (raw := _given(name)) is None:
        return default
    if raw not in ("0", "1"):
        raise SettingsError(f"{name} must be 1 (on) or 0 (off), got {raw!r}")
    return raw == "1"


def _seconds(name: str, default: float) -> float:
    """A positive number of seconds; fractions allowed (the tests run the beat every 0.5 s)."""
    if (raw := _given(name)) is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def _url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if not value.startswith(schemes):
        raise SettingsError(f"{name} must start with one of {', '.join(schemes)}; got {value!r}")
    return value


def _base_url(name: str, default: str) -> str:
    """An http(s) address with a host and no query or fragment, without its trailing slash (the
    app appends its own paths)."""
    value = (os.environ.get(name) or default).strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port that is not a number in range
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname)
                 and not parts.query and not parts.fragment and port != 0)
    except ValueError:  # an unclosed [ipv6, or a bad port
        valid = False
    if not valid:
        raise SettingsError(f"{name} must be an http:// or https:// address such as "
                            f"https://shop.example, without a query; got {value!r}")
    return value.rstrip("/")


def normalize_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


# A key signs session tokens and sandbox webhooks: 32 characters of `token_urlsafe` are 192
# bits, beyond guessing; anything shorter is a password someone chose, not a random key.
MIN_SECRET_KEY_LENGTH = 32
HOW_TO_MAKE_A_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def _secret_key(value: str, environment: str) -> str:
    """There is no default: a default would be in the source, and anyone could sign with it."""
    if not value:
        raise SettingsError(
            "SECRET_KEY is not set. `livesell run` keeps a random one in its data folder; "
            f"otherwise set it to a long random string, e.g. from `{HOW_TO_MAKE_A_SECRET_KEY}`"
        )
    if environment == "test":
        return value  # the test suite's own key, never used outside it
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"SECRET_KEY is too short ({len(value)} characters; at least "
            f"{MIN_SECRET_KEY_LENGTH}): make a random one with `{HOW_TO_MAKE_A_SECRET_KEY}`"
        )
    if any(marker in value.lower() for marker in ("change-me", "changeme", "change_me")):
        raise SettingsError(
            "SECRET_KEY is a placeholder from an example, which others know too: make a random "
            f"one with `{HOW_TO_MAKE_A_SECRET_KEY}`"
        )
    return value


# The table: each setting is a dataclass field that names its variable and its bounds, and one
# reader (`from_environment`) reads them all by their type. A field made with plain `field()`
# or a bare default is no variable (a folder's default, a derived address: its loader gives it).

_T = TypeVar("_T")


def setting(default: Any, env: str | None = None, *, minimum: int = 0,
            maximum: int | None = None, within: str = "", blank: bool = False,
            url: bool = False) -> Any:
    """A field read from the environment: `env`, else its section's prefix and its name in
    capitals. An int is a whole number within `minimum` .. `maximum` (`within` says the range
    in words); a float a positive number of seconds; a bool 1 or 0; a str as given (`url`: an
    http(s) base address; `blank`: set but empty is a value, not the default)."""
    return field(default=default, metadata={"env": env, "minimum": minimum, "maximum": maximum,
                                            "within": within, "blank": blank, "url": url})


def _read(name: str, kind: str, default: Any, rules: Mapping[str, Any]) -> Any:
    if kind == "int":
        value = _int(name, default, rules["minimum"])
        if rules["maximum"] is not None and value > rules["maximum"]:
            raise SettingsError(f"{name} must be {rules['within'] or 'at most ' + str(rules['maximum'])}"
                                f", got {value}")
        return value
    if kind == "float":
        return _seconds(name, default)
    if kind == "bool":
        return _flag(name, default)
    if rules["url"]:
        return _base_url(name, default)
    return os.environ.get(name, default) if rules["blank"] else _given(name) or default


def from_environment(section: type[_T], prefix: str = "", **given: Any) -> _T:
    """A settings section from its variables (`setting` fields), with `given` for the rest."""
    values = {item.name: _read(item.metadata["env"] or prefix + item.name.upper(), str(item.type),
                               item.default, item.metadata)
              for item in fields(section)  # type: ignore[arg-type]
              if "env" in item.metadata and item.name not in given}
    return section(**values, **given)


@dataclass(frozen=True)
class HubSettings:
    """The websocket hub's tuning knobs (HUB_* variables; docs/realtime.md). The defaults are
    what the fan-out benchmark measured (BENCHMARKS.md); realtime.hub.HubConfig takes them."""

    # Frames a connection may have waiting. At 20 frames a second (a batched huge
    # room) this is ~25 s of slack, and ~200 kB of queued references at most.
    send_queue_frames: int = setting(512, minimum=1)
    # The same bound for connections written directly, in bytes: ~25 s of a busy
    # batched room, and the most a stuck viewer costs us in memory.
    send_queue_bytes: int = setting(1 << 20, minimum=1024)
    # Write pre-framed bytes straight to connections that allow it (realtime.connection's
    # DirectWriter); off sends everything through ASGI `send`.
    direct_writes: bool = setting(True)
    # From this many local viewers in a room, chat lines are batched into one
    # frame per `batch_interval_ms`: frames, not bytes, are what cost CPU.
    batch_min_connections: int = setting(100, minimum=1)
    batch_interval_ms: int = setting(50)
    # And the interval grows with the room so that one room costs this process at
    # most this many frames a second (5,000 viewers: a frame every 125 ms).
    room_frames_per_second: int = setting(40_000, minimum=1)
    # A batched room's viewers in this many groups whose batches leave in turn, one every
    # interval / groups: a chat line then waits for its group's turn and the fan-out to a
    # quarter of the room, not to all of it (at 5,000 viewers one frame to all takes
    # 40-80 ms). Same frames a second; a timer every ~30 ms instead of every 125 ms.
    batch_groups: int = setting(4, minimum=1)
    # Websocket connection attempts per client address per window (realtime.admission).
    # A tab reconnects with backoff from 0.5 s, so one viewer makes a few in 10 s; this
    # leaves room for a household or an office behind one address, and refuses a script.
    connects_per_address: int = setting(120, minimum=1)
    connects_window_ms: int = setting(10_000, minimum=100)


@dataclass(frozen=True)
class ScheduleSettings:
    """How often the Celery beat sends each periodic task (workers/app.py), in seconds. Each
    is read from the environment variable of its name in capitals (`expire_sweep_seconds`:
    EXPIRE_SWEEP_SECONDS), a positive number of seconds."""

    # The sweep is the only way an unpaid order expires: it bounds how late one is.
    expire_sweep_seconds: float = setting(5.0)
    # Units held by a web process that died before writing the order come back within the
    # write deadline (5 s) plus this.
    unwritten_sweep_seconds: float = setting(2.0)
    # Moves sales to running and ended and settles ended ones: a sale's status is at most this
    # late (its buy window itself is enforced by Redis TIME in the buy script).
    advance_sales_seconds: float = setting(1.0)
    # Builds the reports of ended broadcasts that the end-of-room task missed.
    report_sweep_seconds: float = setting(60.0)
    # Settles commissions past their return window (days long: minutes late is nothing).
    commission_settle_seconds: float = setting(300.0)
    # Hands workers the outbox messages committed but never enqueued (the process died in
    # between).
    outbox_relay_seconds: float = setting(30.0)
    # Ends live rooms whose video stream has been gone past the grace period (live/streams.py):
    # a room ends at most this long after its grace is over.
    stream_sweep_seconds: float = setting(10.0)
    # Makes the replay of each ended room that streamed (live/replays.py): a replay appears at
    # most this long after its room ended.
    replay_sweep_seconds: float = setting(30.0)
    # Queues uploaded videos whose transcode message was lost (workers/video_tasks.py).
    video_sweep_seconds: float = setting(60.0)
    # Sends the go-live alerts of rooms whose alert task was lost (social/alerts.py): a
    # follower hears of a live room at most this much later than they would have.
    go_live_alert_sweep_seconds: float = setting(30.0)
    # Settles the rains and draws no web process's tick settled (engagement/runtime.py): with
    # every web process down, a seed is revealed at most this long after the backstop's delay.
    engagement_backstop_seconds: float = setting(5.0)
    # Fails group buys past their deadline (refunding their members) and settles ended group
    # deals (orders/groups.py): a failed group's members are refunded at most this late.
    group_sweep_seconds: float = setting(2.0)


def _rate_bp(default: int) -> Any:
    """A rate in basis points: 0 .. 100%."""
    return setting(default, maximum=10_000, within="in basis points (0-10000)")



@dataclass(frozen=True)
class ShareSettings:
    """Share links and the sharers' commission (SHARE_* variables; docs/social.md)."""

    # A visit through a share link stands as the visitor's attribution this long (last
    # click wins): an order created inside it credits the link's sharer.
    attribution_days: int = setting(7, minimum=1)
    # How many sharers an order may credit: 1, or 2 (the sharer who brought the sharer).
    # Never more: the ledger's constraint refuses a level above 2.
    max_depth: int = setting(1, minimum=1, maximum=2, within="1 or 2 (never more)")
    # The sharer's rate when the product sets none, and the most any product may give the
    # first-level sharer, in basis points (100 = 1%).
    default_rate_bp: int = _rate_bp(500)
    rate_cap_bp: int = _rate_bp(2000)
    # The second-level sharer's rate (only with max_depth 2), within what the cap leaves.
    level2_rate_bp: int = _rate_bp(100)
    # A code older than this is refused as expired; its sharer asks for a fresh link.
    link_max_age_days: int = setting(90, minimum=1)
    # Per client address: share-link visits allowed per window (past it: 429), and how long
    # one client's visits through one link count once.
    visits_per_client: int = setting(30, minimum=1)
    visit_window_seconds: int = setting(60, minimum=1)
    visit_dedupe_seconds: int = setting(3600, minimum=1)


@dataclass(frozen=True)
class SocialSettings:
    """Follows, go-live alerts, reviews (SOCIAL_* / REVIEW_* variables; docs/metrics.md)."""

    # A buyer may change their review for this long after writing it (a typo, a second look
    # at the parcel); after it the review is fixed, so a seller's reply answers what stays.
    review_edit_window_seconds: int = setting(48 * 3600, "REVIEW_EDIT_WINDOW_SECONDS")
    # Followers told of a live room per transaction (social/alerts.py): 500 notification rows
    # are one INSERT of ~100 kB, and a crash mid-alert redoes at most one batch's work.
    go_live_alert_batch: int = setting(500, minimum=1)
    # A go-live alert still owed this long after the room went live is dropped: the show
    # may be over, and "X is live" an hour late is noise.
    go_live_alert_max_age_seconds: int = setting(3600, minimum=1)


@dataclass(frozen=True)
class EngagementSettings:
    """Red envelope rains and lucky draws (ENGAGEMENT_* and RAIN_* variables;
    docs/engagement.md)."""

    # Every web process settles the rains and draws whose time is up this often (and, in a loop
    # of its own, marks its viewers present in their rooms): a rain's seed and a draw's winners
    # appear at most this late after the close.
    tick_seconds: float = setting(1.0)
    # The smallest envelope a rain may hold, in minor units (a host may ask for a larger one).
    min_envelope_minor: int = setting(1, "RAIN_MIN_ENVELOPE_MINOR", minimum=1)
    # The most envelopes in one rain: every one is a row written at the drop and a list entry
    # in Redis; 10,000 is a few hundred kilobytes and a drop of well under a second.
    max_envelopes: int = setting(10_000, "RAIN_MAX_ENVELOPES", minimum=1)


@dataclass(frozen=True)
class CouponSettings:
    """Coupons dropped into a live room (COUPON_* variables; docs/engagement.md)."""

    # The most copies of one coupon: each claim is a row, and the claimers set holds them all.
    max_quantity: int = setting(100_000, minimum=1)
    # The longest a coupon stays valid after the drop: a week covers a show's follow-up days.
    max_valid_seconds: int = setting(7 * 24 * 3600, minimum=60)


def _port(default: int) -> Any:
    return setting(default, minimum=1, maximum=65535, within="a port (1-65535)")


@dataclass(frozen=True)
class IngestSettings:
    """Live video ingest through nginx-rtmp (INGEST_* variables; docs/video.md)."""

    # Off: no nginx here (`livesell run` turns it off when nginx is not installed); the room
    # page then plays only a pasted playback URL and does not look for the room's HLS.
    enabled: bool = setting(True)

    # Where `livesell run` has nginx listen: RTMP for OBS/ffmpeg, HTTP for the HLS it writes.
    # Loopback by default: opening ingest to the network is a deployment decision.
    rtmp_bind: str = setting("127.0.0.1")
    rtmp_port: int = _port(1935)
    http_bind: str = setting("127.0.0.1")
    http_port: int = _port(8088)
    # What the host panel tells OBS to publish to, and where players fetch the HLS from (a CDN
    # in production); both default to the local nginx above (`ingest_settings`).
    rtmp_url: str = "rtmp://127.0.0.1:1935/live"
    hls_base_url: str = "http://127.0.0.1:8088/hls"
    # A stream that drops (an encoder restart, a network blip) and comes back within this long
    # is the same show; after it, a room whose stream is gone is ended by the sweep.
    grace_seconds: float = setting(60.0)
    # nginx asks the app about each publisher this often (on_update); a publisher not heard of
    # for three of these is gone (nginx died without saying so), and a rotated key's publisher
    # is cut off at its next update.
    update_seconds: int = setting(10, minimum=1)
    # When set, nginx's callbacks must carry it (`?secret=`), from any address; when empty,
    # they are accepted from loopback only.
    callback_secret: Secret = field(default_factory=lambda: Secret(""))
    # Where nginx records each publish whole (the replay's source); the app reads it there.
    # Default: the data folder's `nginx/records`.
    record_dir: str = ""


@dataclass(frozen=True)
class VideoSettings:
    """Short videos: uploads and their transcodes (VIDEO_* variables; docs/video.md)."""

    # Uploads and the transcoded HLS live here (`uploads/`, `videos/{id}/`); `videos/` is served
    # at /media/videos. Default: the data folder's `media`.
    media_dir: str = ""
    # A short video is under three minutes; at a phone's 1080p (~10 Mbit/s) that is ~225 MB.
    max_upload_bytes: int = setting(256 * 1024 * 1024, minimum=1024)
    max_seconds: int = setting(180, minimum=1)
    # A transcode that runs longer is stuck (a 3-minute 1080p clip takes about a minute here).
    transcode_timeout_seconds: int = setting(900, minimum=10)


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    celery_broker_url: str
    secret_key: Secret
    # A task taken by a worker that then vanished entirely (its machine, say) goes back on
    # a Redis broker's queue after this long; a killed pool process's task is requeued at
    # once (task_reject_on_worker_lost). Longer than the longest task.
    celery_visibility_timeout_seconds: float = setting(3600.0, "CELERY_VISIBILITY_TIMEOUT")
    # Every Redis key and channel starts with this, so that several deployments
    # (or concurrent test runs) can share one Redis server without seeing each other.
    redis_prefix: str = setting("ls:", blank=True)
    # Each process's PostgreSQL connections: kept open, and opened beyond them at a peak
    # (closed again when returned). A web process's; a worker's keeps 2 (workers/runtime.py).
    # Every process of a deployment together must stay under the server's max_connections.
    database_pool_size: int = setting(10, minimum=1)
    database_max_overflow: int = setting(20)
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    session_cookie_secure: bool = setting(False)
    session_max_age_seconds: int = 14 * 24 * 3600
    order_hold_seconds: int = setting(600, minimum=1)
    # Regular-price buying: the most units of one variant on one order line, and the most
    # lines (variants) in one cart checkout.
    regular_max_quantity: int = setting(10, minimum=1)
    cart_max_lines: int = setting(20, minimum=1)
    commission_return_window_days: int = setting(7)
    chat_max_length: int = setting(300, minimum=1)
    chat_min_interval_ms: int = setting(1000)
    # Where this deployment's workers reach its web app: the sandbox gateway posts its webhooks
    # here. Only ever from settings, never from a request's Host header (a forged one sent the
    # signed webhook elsewhere). The default is what `livesell run` serves on.
    internal_base_url: str = setting("http://127.0.0.1:8000", url=True)
    # The site's public address, for absolute links handed to users (payment links). Empty:
    # links are site-relative, so they stay on whichever of the app's addresses the user is on.
    public_base_url: str = setting("", url=True)
    debug: bool = setting(False, "LIVESELL_DEBUG")
    # One JSON object per log line ("json", production's default) or plain text ("text").
    log_format: str = "text"
    # host:port of a separate /metrics listener for Prometheus (no auth: bind it privately);
    # empty: /metrics is served only by the app, to ops users.
    metrics_bind: str = ""
    # Logins and sign-ups (core/ratelimit.py; README "Accounts"). Failures per account are
    # forgotten a window after the last one; past the limit the account is locked, for the
    # base lockout and then twice as long after each further failure, up to the cap: a
    # guesser gets a handful of tries an hour, while the owner waits a minute after a typo
    # streak. A successful login forgets the failures.
    login_failures_per_account: int = setting(5, minimum=1)
    login_failure_window_seconds: int = setting(900, minimum=1)
    login_lockout_seconds: int = setting(60, minimum=1)
    login_lockout_max_seconds: int = setting(3600, minimum=1)
    # Per client address, failed and in-flight logins: generous enough for many people
    # behind one NAT, too few for guessing. A successful login does not count.
    login_failures_per_address: int = setting(20, minimum=1)
    login_address_window_seconds: int = setting(60, minimum=1)
    signups_per_address: int = setting(10, minimum=1)
    signup_address_window_seconds: int = setting(600, minimum=1)
    # Argon2 runs in this many threads (0: one per core); past `queue` hashes waiting per
    # thread a login is refused (503, retry) rather than left to wait for seconds.
    password_hash_workers: int = setting(0)
    password_hash_queue_per_worker: int = setting(8)
    # Argon2's cost per new hash (argon2-cffi's defaults: 3 passes over 64 MiB, about a fifth
    # of a second of CPU). Only the test suite lowers it (tests/infra.py); a stored hash keeps
    # the cost it was made with. argon2 needs 8 KiB per lane (4 lanes).
    password_hash_time_cost: int = setting(3, minimum=1)
    password_hash_memory_kib: int = setting(65536, minimum=32)
    # Proxies whose X-Forwarded-For uvicorn believes (`livesell serve`; README "Accounts"). As
    # uvicorn's --forwarded-allow-ips: set but empty trusts no proxy.
    forwarded_allow_ips: str = setting("127.0.0.1", blank=True)
    hub: HubSettings = field(default_factory=HubSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    video: VideoSettings = field(default_factory=VideoSettings)
    social: SocialSettings = field(default_factory=SocialSettings)
    engagement: EngagementSettings = field(default_factory=EngagementSettings)
    shares: ShareSettings = field(default_factory=ShareSettings)
    coupons: CouponSettings = field(default_factory=CouponSettings)


def share_settings() -> ShareSettings:
    return from_environment(ShareSettings, "SHARE_")


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
    secret = _secret_key(os.environ.get("SECRET_KEY", ""), os.environ.get("LIVESELL_ENV", ""))
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
    return from_environment(
        Settings,
        database_url=database_url,
        redis_url=redis_url,
        celery_broker_url=broker,
        secret_key=Secret(secret),
        allowed_origins=origins,
        log_format=log_format,
        metrics_bind=metrics_bind,
        hub=from_environment(HubSettings, "HUB_"),
        # Each interval from the variable of its name in capitals (EXPIRE_SWEEP_SECONDS, ...).
        schedule=from_environment(ScheduleSettings),
        ingest=ingest_settings(),
        video=video_settings(),
        social=from_environment(SocialSettings, "SOCIAL_"),
        engagement=from_environment(EngagementSettings, "ENGAGEMENT_"),
        shares=share_settings(),
        coupons=from_environment(CouponSettings, "COUPON_"),
    )


def _data_dir() -> str:
    """`livesell run`'s data folder (web/cli.py's DATA_DIR), for the defaults of folders."""
    return os.environ.get("LIVESELL_DATA_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".data")


def video_settings() -> VideoSettings:
    return from_environment(
        VideoSettings, "VIDEO_",
        media_dir=os.environ.get("VIDEO_MEDIA_DIR") or os.path.join(_data_dir(), "media"))


def ingest_settings() -> IngestSettings:
    """The INGEST_* settings (also read alone by `livesell nginx-config`); the addresses
    default to the ports'."""
    ports = from_environment(IngestSettings, "INGEST_")
    rtmp_url = os.environ.get("INGEST_RTMP_URL") or f"rtmp://127.0.0.1:{ports.rtmp_port}/live"
    if not rtmp_url.startswith(("rtmp://", "rtmps://")):
        raise SettingsError(f"INGEST_RTMP_URL must start with rtmp:// or rtmps://; got {rtmp_url!r}")
    return replace(
        ports,
        rtmp_url=rtmp_url.rstrip("/"),
        hls_base_url=_base_url("INGEST_HLS_BASE_URL", f"http://127.0.0.1:{ports.http_port}/hls"),
        callback_secret=Secret(os.environ.get("INGEST_CALLBACK_SECRET", "")),
        record_dir=os.environ.get("INGEST_RECORD_DIR") or os.path.join(_data_dir(), "nginx",
                                                                       "records"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
