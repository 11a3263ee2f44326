"""The Celery application: `celery -A workers.app worker -B`.

The broker is settings.celery_broker_url: the app's Redis by default, RabbitMQ when it says
amqp://. Tasks are acknowledged only after they ran (`acks_late`) and a task whose worker
process died is put back on the queue (`task_reject_on_worker_lost`), so a crash mid-task
means a redelivery, never a lost task; every task is idempotent, so a redelivery changes
nothing twice.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from core.settings import Settings, get_settings


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    broker = settings.celery_broker_url
    prefix = settings.redis_prefix
    app = Celery("livesell", broker=broker, include=["workers.tasks", "workers.analytics_tasks"])
    transport: dict[str, Any] = {}
    if broker.startswith(("redis://", "rediss://", "unix://")):
        transport = {
            # Deployments (and test runs) sharing one Redis keep their queues apart.
            "global_keyprefix": prefix,
            # An unacknowledged task of a worker that vanished entirely is redelivered after
            # this long (a killed pool process is requeued at once by reject_on_worker_lost).
            "visibility_timeout": _seconds("CELERY_VISIBILITY_TIMEOUT", 3600),
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
            "expire-unpaid-orders": {
                "task": "orders.expire_orders",
                "schedule": _seconds("EXPIRE_SWEEP_SECONDS", 5.0),
                "options": {"expires": 30},
            },
            # Units reserved by a web process that died before writing the order go back
            # within the write deadline (5 s) plus this interval.
            "release-unwritten-holds": {
                "task": "orders.release_unwritten_holds",
                "schedule": _seconds("UNWRITTEN_SWEEP_SECONDS", 2.0),
                "options": {"expires": 10},
            },
            "advance-sales": {
                "task": "orders.advance_sales",
                "schedule": _seconds("ADVANCE_SALES_SECONDS", 1.0),
                "options": {"expires": 5},
            },
            "sweep-broadcast-reports": {"task": "analytics.sweep_reports", "schedule": _seconds("REPORT_SWEEP_SECONDS", 60.0), "options": {"expires": 120}},  # analytics
            "settle-commissions": {"task": "orders.settle_commissions", "schedule": _seconds("COMMISSION_SETTLE_SECONDS", 300.0), "options": {"expires": 600}},  # commissions
            "relay-outbox": {
                "task": "orders.relay_outbox",
                "schedule": _seconds("OUTBOX_RELAY_SECONDS", 30.0),
                "options": {"expires": 60},
            },
        },
    )
    return app


app = make_celery()
