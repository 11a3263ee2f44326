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
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def beat(task: str, every_seconds: float, *, expires: int) -> dict[str, Any]:
    """A beat entry: `task` every `every_seconds` (a setting); a run still queued `expires`
    seconds after it was sent is dropped, since the next one is coming."""
    return {"task": task, "schedule": every_seconds, "options": {"expires": expires}}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    broker = settings.celery_broker_url
    prefix = settings.redis_prefix
    every = settings.schedule
    app = Celery("livesell", broker=broker, include=["workers.tasks", "workers.analytics_tasks",
                                                       "workers.video_tasks",
                                                       "workers.social_tasks"])
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
        beat_schedule={
            # The sweep is the only way an unpaid order expires: no per-order countdown task.
            "expire-unpaid-orders": beat(
                "orders.expire_orders", every.expire_sweep_seconds, expires=30),
            # Units reserved by a web process that died before writing the order go back
            # within the write deadline (5 s) plus this interval.
            "release-unwritten-holds": beat(
                "orders.release_unwritten_holds", every.unwritten_sweep_seconds, expires=10),
            "advance-sales": beat("orders.advance_sales", every.advance_sales_seconds, expires=5),
            # Group buys past their deadline fail and refund their members (orders/groups.py).
            "sweep-groups": beat("orders.sweep_groups", every.group_sweep_seconds, expires=10),
            "sweep-broadcast-reports": beat(
                "analytics.sweep_reports", every.report_sweep_seconds, expires=120),
            "settle-commissions": beat(
                "orders.settle_commissions", every.commission_settle_seconds, expires=600),
            "relay-outbox": beat("orders.relay_outbox", every.outbox_relay_seconds, expires=60),
            # A room whose video stream is gone is ended this late after its grace period.
            "end-rooms-without-stream": beat(
                "live.end_rooms_without_stream", every.stream_sweep_seconds, expires=30),
            # The replays of ended rooms that streamed (live/replays.py).
            "build-replays": beat("live.build_replays", every.replay_sweep_seconds, expires=60),
            # Uploaded videos whose transcode message was lost (workers/video_tasks.py).
            "queue-unprocessed-videos": beat(
                "live.queue_unprocessed_videos", every.video_sweep_seconds, expires=60),
            # Go-live alerts a lost message or a crashed task left owed (social/alerts.py).
            "sweep-go-live-alerts": beat(
                "social.sweep_go_live_alerts", every.go_live_alert_sweep_seconds, expires=30),
        },
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
