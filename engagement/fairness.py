"""The published, deterministic rules behind rains and draws (docs/engagement.md).

Everything here is a pure function of a seed and public numbers: anyone holding the revealed
seed recomputes the same amounts and the same winners. The stream of random numbers is
HMAC-SHA256 in counter mode, with rejection sampling so every value below a bound is equally
likely (no modulo bias):

    block(seed, label, counter) = HMAC-SHA256(key=seed, msg=f"{label}:{counter}" in ASCII)
    u = the block's first 8 bytes as a big-endian unsigned integer
    below(bound): take blocks with counter 0, 1, 2, ... (one counter per stream, never reused);
                  accept u if u < 2**64 - (2**64 mod bound), and answer u mod bound

A rain's amounts use the label "rain", a draw's shuffle the label "draw".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SEED_BYTES = 32
RAIN_LABEL = "rain"
DRAW_LABEL = "draw"
_SPACE = 1 << 64


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def commitment(seed: bytes) -> str:
    """What is shown before the event: SHA-256 of the seed's raw bytes, in lowercase hex."""
    return hashlib.sha256(seed).hexdigest()


class Stream:
    """Uniform integers from HMAC-SHA256(seed, "label:counter")."""

    def __init__(self, seed: bytes, label: str) -> None:
        self.seed = seed
        self.label = label
        self.counter = 0

    def _next_u64(self) -> int:
        block = hmac.new(self.seed, f"{self.label}:{self.counter}".encode("ascii"),
                         hashlib.sha256).digest()
        self.counter += 1
        return int.from_bytes(block[:8], "big")

    def below(self, bound: int) -> int:
        """A uniform integer in [0, bound)."""
        if bound < 1:
            raise ValueError("bound must be at least 1")
        limit = _SPACE - (_SPACE % bound)
        while True:
            u = self._next_u64()
            if u < limit:
                return u % bound


def split_rain(seed: bytes, total_minor: int, count: int, minimum_minor: int) -> list[int]:
    """Envelope amounts, in envelope order (1..count), summing to `total_minor` exactly, each at
    least `minimum_minor`. The spare (total - count x minimum) is cut at count - 1 points drawn
    uniformly from 0..spare (with repeats), sorted; the gaps between consecutive cuts (from 0 to
    spare) are the envelopes' shares of the spare, in order."""
    if count < 1:
        raise ValueError("a rain needs at least one envelope")
    spare = total_minor - count * minimum_minor
    if spare < 0:
        raise ValueError("the pool cannot give every envelope the minimum")
    stream = Stream(seed, RAIN_LABEL)
    cuts = sorted(stream.below(spare + 1) for _ in range(count - 1))
    edges = [0, *cuts, spare]
    return [minimum_minor + edges[i + 1] - edges[i] for i in range(count)]


def pick_winners(seed: bytes, entrants: Sequence[int], winners: int) -> list[int]:
    """The winners, in the order picked: the entrants' user ids sorted ascending, then a seeded
    Fisher-Yates shuffle run forward for the first `winners` positions: for i = 0, 1, ...,
    j = i + below(n - i), swap positions i and j; the first `winners` entries win. With fewer
    entrants than winners, every entrant wins (still in shuffled order)."""
    order = sorted(entrants)
    if len(set(order)) != len(order):
        raise ValueError("an entrant is listed twice")
    stream = Stream(seed, DRAW_LABEL)
    picks = min(winners, len(order))
    for i in range(picks):
        j = i + stream.below(len(order) - i)
        order[i], order[j] = order[j], order[i]
    return order[:picks]
