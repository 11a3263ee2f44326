"""Celery tasks of the social package: thin shells over social.alerts, each safe to run twice.

- `social.send_go_live_alert(room_id)`: enqueued after the commit that took a room live
  (`RoomWentLive`, workers/handlers.py). Each follower's notification is written once (its
  dedupe key), so a redelivery or a second worker writes nothing twice.
- `social.sweep_go_live_alerts()`: on the beat schedule; sends the alerts of live rooms that
  a lost message or a crashed task left unfinished.
"""

from __future__ import annotations

import logging

from core.context import Services
from social import alerts
from workers.app import app
from workers.runtime import run

log = logging.getLogger(__name__)


@app.task(name="social.send_go_live_alert")
def send_go_live_alert(room_id: int) -> int:
    return run(lambda svc: alerts.send_go_live_alert(svc, room_id))


@app.task(name="social.sweep_go_live_alerts")
def sweep_go_live_alerts() -> dict[str, int]:
    async def work(svc: Services) -> dict[str, int]:
        sent: dict[str, int] = {}
        for room_id in await alerts.owed_go_live_alerts(svc):
            try:
                sent[str(room_id)] = await alerts.send_go_live_alert(svc, room_id)
            except Exception:
                log.exception("go-live alert of room %s failed; the next sweep retries", room_id)
        return sent

    return run(work)
