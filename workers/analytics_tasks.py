"""Celery tasks of analytics: thin shells over analytics.actions, each safe to run twice.

- `analytics.build_report(room_id)`: enqueue it after the commit that ends a room. Building
  replaces the room's one report row, so a duplicate delivery or a retry writes the same row.
- `analytics.sweep_reports()`: on the beat schedule. Builds the reports of ended rooms that
  have none (a crash between the room ending and the enqueue loses nothing, it waits for the
  sweep) and rebuilds those that a later payment, refund or the recorder's last flush made
  stale.
"""

from __future__ import annotations

import logging
from typing import Any

from analytics import actions
from analytics.errors import RoomNotEnded
from core.context import Services
from workers.app import app
from workers.runtime import run

log = logging.getLogger(__name__)

# Rooms per sweep: a report of a long, busy broadcast takes a second or two to build; 50 keeps
# one sweep well under its schedule while a backlog drains.
SWEEP_BATCH = 50


@app.task(name="analytics.build_report")
def build_report(room_id: int) -> dict[str, Any] | None:
    async def work(svc: Services) -> dict[str, Any] | None:
        try:
            report = await actions.build_report(svc, room_id)
        except RoomNotEnded:
            # Enqueued early (or for the wrong room): the sweep builds it once the room ends.
            log.info("room %s has not ended; its report waits for the sweep", room_id)
            return None
        summary = report["summary"]
        return {"room_id": room_id, "currency": summary["currency"],
                "gmv_minor": summary["gmv_minor"], "paid_orders": summary["paid_orders"]}

    return run(work)


@app.task(name="analytics.sweep_reports")
def sweep_reports() -> list[int]:
    return run(lambda svc: actions.build_missing_reports(svc, limit=SWEEP_BATCH))
