"""Hand work to Celery from a request, after the commit that implies it.

Used only where a periodic sweep also finds the work (so a lost message delays it,
never loses it): the request does not wait on a broker that is slow or down.
"""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)

# A broker that does not take a message within this long is treated as down; the sweep
# catches up.
SEND_TIMEOUT_SECONDS = 3.0


async def enqueue(task_name: str, *args: object) -> bool:
    from workers.app import app as celery_app

    def send() -> None:
        celery_app.send_task(task_name, args=list(args), retry=False)

    try:
        await asyncio.wait_for(asyncio.to_thread(send), SEND_TIMEOUT_SECONDS)
        return True
    except Exception:
        logger.warning("could not enqueue %s%r; the periodic sweep will do it", task_name, args,
                       exc_info=True)
        return False
