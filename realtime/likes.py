"""Likes: taps are summed per room in each process and reported a few times a
second (realtime.presence), and the room sees one aggregated `likes` event per
report that changed the total, never one per tap."""

from __future__ import annotations

import time

# A viewer may add this many likes a second (a burst of taps), and no more:
# beyond it the taps are dropped quietly; likes are a mood, not a ledger.
LIKES_PER_SECOND = 20
LIKES_BURST = 100


class LikeBudget:
    """A token bucket per connection."""

    __slots__ = ("tokens", "updated")

    def __init__(self) -> None:
        self.tokens = float(LIKES_BURST)
        self.updated = time.monotonic()

    def take(self, count: int) -> int:
        """How many of `count` likes may be counted now."""
        now = time.monotonic()
        self.tokens = min(float(LIKES_BURST), self.tokens + (now - self.updated) * LIKES_PER_SECOND)
        self.updated = now
        granted = min(count, int(self.tokens))
        self.tokens -= granted
        return granted
