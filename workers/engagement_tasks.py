"""Celery tasks of the engagement package: thin shells over engagement.runtime.

- `engagement.settle_overdue()`: on the beat schedule; the backstop of the web processes'
  one-second tick. Settles the rains and draws the draws overdue by
  `engagement.runtime.BACKSTOP_OVERDUE`, so a deployment whose web processes are all down
  still reveals its seeds and pays back its unclaimed envelopes. Safe beside the tick and
  twice at once: each settle and draw is a conditional move under its row's lock.
"""

from __future__ import annotations

from engagement import runtime
from social import follows
from workers.app import app
from workers.runtime import run


@app.task(name="engagement.settle_overdue")
def settle_overdue() -> dict[str, list[int]]:
    # The draws that follow the host enter the host's followers, who are social's.
    return run(lambda svc: runtime.settle_overdue(svc, followers_of=follows.followers_of))
