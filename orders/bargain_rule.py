"""The published cut rule of a bargain (砍价; docs/social.md, "Bargaining"): pure arithmetic on
public numbers, so anyone can check every cut.

A bargain starts at `start` and must reach `floor` after exactly `helpers` cuts. The amount to
cut, `start - floor`, is split so that

- every cut is a whole, positive number of minor units (each helper gets 1 unit first);
- the rest, `R = start - floor - helpers`, is shared by weights that fall by one per helper:
  the i-th helper (1-based) weighs `helpers - i + 1` (the first friend cuts the most, the last
  the least), out of `W = helpers * (helpers + 1) / 2`;
- rounding is cumulative: after `i` cuts the rest taken is `floor(R * S_i / W)`, where
  `S_i = i * (2 * helpers - i + 1) / 2` is the weight of the first `i` helpers. So the i-th cut
  is `1 + floor(R * S_i / W) - floor(R * S_(i-1) / W)`, the cuts add up to `start - floor`
  exactly, and the price after the last one is the floor, never an asymptote.

No seed and no randomness: the i-th cut follows from the offer's three numbers alone.
"""

from __future__ import annotations

# The most helpers an offer may ask for: enough for a price to need real sharing, few enough
# that a buyer can finish it (the platforms' cuts that "stall at 0.9% left" are what we refuse).
MAX_HELPERS = 50


def cumulative_weight(helpers: int, count: int) -> int:
    """S_count: the weight of the first `count` helpers."""
    return count * (2 * helpers - count + 1) // 2


def cut_so_far(start: int, floor: int, helpers: int, count: int) -> int:
    """How much the first `count` helpers cut, together."""
    if not 0 <= count <= helpers:
        raise ValueError(f"count must be 0 to {helpers}")
    rest = start - floor - helpers
    if rest < 0:
        raise ValueError("start - floor must be at least one minor unit per helper")
    return count + rest * cumulative_weight(helpers, count) // cumulative_weight(helpers, helpers)


def price_after(start: int, floor: int, helpers: int, count: int) -> int:
    """The price once `count` helpers have cut."""
    return start - cut_so_far(start, floor, helpers, count)


def cut_of(start: int, floor: int, helpers: int, seq: int) -> int:
    """The cut of the `seq`-th helper (1-based)."""
    if not 1 <= seq <= helpers:
        raise ValueError(f"seq must be 1 to {helpers}")
    return (cut_so_far(start, floor, helpers, seq)
            - cut_so_far(start, floor, helpers, seq - 1))


def all_cuts(start: int, floor: int, helpers: int) -> list[int]:
    """Every cut, in order: the whole published schedule of an offer."""
    return [cut_of(start, floor, helpers, seq) for seq in range(1, helpers + 1)]
