"""The Celery application: `celery -A workers.app worker -B`.

The broker is settings.celery_broker_url: the app's Redis by default, RabbitMQ when it says
amqp://. Tasks are acknowledged only after they ran (`acks_late`) and a task whose worker
process died is put back on the queue (`task_reject_on_worker_lost`), so a crash mid-task
means a redelivery, never a lost task; every task is idempotent, so a redelivery changes
nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery, Task, signals

from core.logging import configure_logging, request_id_var, sane_request_id
from core.settings import ScheduleSettings, Settings, get_settings

log = logging.getLogger(__name__)


# The periodic tasks: (beat entry, task, its interval's field of ScheduleSettings, and the
# seconds after which a run still queued is dropped, since the next one is coming).
BEAT_SCHEDULE: tuple[tuple[str, str, str, int], ...] = (
    # The sweep is the only way an unpaid order expires: no per-order countdown task.
    ("expire-unpaid-orders", "orders.expire_orders", "expire_sweep_seconds", 30),
    # Units reserved by a web process that died before writing the order go back within the
    # write deadline (5 s) plus this interval.
    ("release-unwritten-holds", "orders.release_unwritten_holds", "unwritten_sweep_seconds", 10),
    ("advance-sales", "orders.advance_sales", "advance_sales_seconds", 5),
    # Group buys past their deadline fail and refund their members (orders/groups.py).
    ("sweep-groups", "orders.sweep_groups", "group_sweep_seconds", 10),
    ("sweep-broadcast-reports", "analytics.sweep_reports", "report_sweep_seconds", 120),
    ("settle-commissions", "orders.settle_commissions", "commission_settle_seconds", 600),
    ("relay-outbox", "orders.relay_outbox", "outbox_relay_seconds", 60),
    # A room whose video stream is gone is ended this late after its grace period.
    ("end-rooms-without-stream", "live.end_rooms_without_stream", "stream_sweep_seconds", 30),
    # The replays of ended rooms that streamed (live/replays.py).
    ("build-replays", "live.build_replays", "replay_sweep_seconds", 60),
    # Uploaded videos whose transcode message was lost (workers/video_tasks.py).
    ("queue-unprocessed-videos", "live.queue_unprocessed_videos", "video_sweep_seconds", 60),
    # Go-live alerts a lost message or a crashed task left owed (social/alerts.py).
    ("sweep-go-live-alerts", "social.sweep_go_live_alerts", "go_live_alert_sweep_seconds", 30),
    # Rains and draws overdue because no web process ticked (engagement/runtime.py).
    ("settle-overdue-engagement", "engagement.settle_overdue", "engagement_backstop_seconds", 10),
)


def beat_schedule(every: ScheduleSettings) -> dict[str, dict[str, Any]]:
    """Celery's beat entries, each at its interval from the settings."""
    return {name: {"task": task, "schedule": getattr(every, interval),
                   "options": {"expires": expires}}
            for name, task, interval, expires in BEAT_SCHEDULE}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    broker = settings.celery_broker_url
    prefix = settings.redis_prefix
    app = Celery("livesell", broker=broker, include=["workers.tasks", "workers.analytics_tasks",
                                                       "workers.video_tasks",
                                                       "workers.social_tasks",
                                                       "workers.engagement_tasks"])
    transport: dict[str, Any] = {}
    if broker.startswith(("redis://", "rediss://", "unix://")):
        transport = {
            # Deployments (and test runs) sharing one Redis keep their queues apart.
            "global_keyprefix": prefix,
            # An unacknowledged task of a worker that vanished entirely is redelivered after
            # this long (a killed pool process is requeued at once by reject_on_worker_lost).
            "visibility_timeout": settings.celery_visibility_timeout_seconds,
        }
    app.conf.update(
        task_default_queue=f"{prefix}tasks",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One task at a time per process: with acks_late, a prefetched task would wait
        # behind a slow one while counting as taken.
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings.schedule),
    )
    return app


app = make_celery()


# Logging and the request id ----------------------------------------------------------------
# A task sent while a request runs carries the request's id in its message headers, and its
# log lines in the worker carry it too.


@signals.setup_logging.connect
def _setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    # Connected, so Celery leaves logging to us: the same JSON or text lines as the web app.
    configure_logging(get_settings().log_format, loglevel or "INFO")


@signals.before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = request_id_var.get()
    if request_id is not None and headers is not None:
        headers["request_id"] = request_id


@signals.task_prerun.connect
def _restore_request_id(task: Task | None = None, **_: Any) -> None:
    if task is not None:
        request_id_var.set(sane_request_id(getattr(task.request, "request_id", None)))


@signals.task_postrun.connect
def _forget_request_id(**_: Any) -> None:
    # One task at a time per worker process (prefork or solo): the next task sets its own.
    request_id_var.set(None)


# Task outcomes for /metrics ------------------------------------------------------------------
# Counted in Redis, not in this process: a prefork worker runs tasks in child processes, and
# several workers may run; the web app's /metrics reads the one hash (web/metrics.py).

_counts_client: redis.Redis | None = None


def _count_outcome(task: Any, outcome: str) -> None:
    global _counts_client
    name = getattr(task, "name", None)
    if not name:
        return
    try:
        settings = get_settings()
        if _counts_client is None:
            # Short timeouts: a count is never worth holding up the worker.
            _counts_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1,
                                                  socket_connect_timeout=1)
        _counts_client.hincrby(settings.redis_prefix + "metrics:celery_tasks",
                               f"{name}|{outcome}", 1)
    except Exception:
        log.warning("could not count task outcome %s of %s", outcome, name, exc_info=True)


@signals.task_success.connect
def _count_success(sender: Any = None, **_: Any) -> None:
    _count_outcome(sender, "success")


@signals.task_failure.connect
def _count_failure(sender: Any = None, **_: Any) -> None:
    _count_outcome(sender, "failure")


@signals.task_retry.connect
def _count_retry(sender: Any = None, **_: Any) -> None:
    _count_outcome(sender, "retry")
