"""The published cut rule of a bargain (orders/bargain_rule.py; docs/social.md, "Bargaining"):
over a grid of prices and helper counts, every cut is a positive whole number of minor units,
the cuts add up to start - floor exactly, the last helper reaches the floor, and each cut is
its published share. Pinned schedules fail the test if the rule drifts."""

from __future__ import annotations

from fractions import Fraction

import pytest

from orders import bargain_rule

# Prices from one unit per helper to a large amount, and every helper count 1..50 at a few.
GRID = [(start, floor, helpers)
        for start, floor in ((2, 1), (101, 1), (1000, 700), (1999, 999), (12_345, 6_789),
                             (10**9, 3))
        for helpers in (*range(1, 13), 17, 29, 49, 50)
        if start - floor >= helpers]


@pytest.mark.parametrize(("start", "floor", "helpers"), GRID)
def test_the_cuts_are_positive_and_reach_the_floor_exactly(start: int, floor: int,
                                                           helpers: int) -> None:
    cuts = bargain_rule.all_cuts(start, floor, helpers)
    assert len(cuts) == helpers
    assert all(isinstance(cut, int) and cut >= 1 for cut in cuts)
    assert sum(cuts) == start - floor
    assert bargain_rule.price_after(start, floor, helpers, helpers) == floor
    # the price after each cut is the start less the cuts so far, never below the floor
    price = start
    for seq, cut in enumerate(cuts, start=1):
        price -= cut
        assert price == bargain_rule.price_after(start, floor, helpers, seq) >= floor
        assert (seq == helpers) == (price == floor)
    # each cut is one unit plus its share of the rest by weight helpers - i + 1, off by less
    # than one unit of rounding
    rest = start - floor - helpers
    total_weight = helpers * (helpers + 1) // 2
    for seq, cut in enumerate(cuts, start=1):
        exact = 1 + Fraction(rest * (helpers - seq + 1), total_weight)
        assert abs(cut - exact) < 1


def test_the_published_schedules_do_not_drift() -> None:
    assert bargain_rule.all_cuts(1000, 500, 5) == [166, 133, 100, 67, 34]
    assert bargain_rule.all_cuts(1000, 700, 3) == [149, 100, 51]
    assert bargain_rule.all_cuts(2, 1, 1) == [1]
    assert bargain_rule.all_cuts(7, 1, 6) == [1, 1, 1, 1, 1, 1]
    assert bargain_rule.all_cuts(2000, 990, 4) == [403, 303, 202, 102]


def test_an_offer_that_cannot_give_each_helper_a_unit_is_refused() -> None:
    with pytest.raises(ValueError):
        bargain_rule.cut_of(5, 1, 5, 1)
    with pytest.raises(ValueError):
        bargain_rule.cut_of(100, 1, 5, 6)
