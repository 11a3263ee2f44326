"""A regular-price order's host entry is its weighted rate on the amount paid, rounded once, so
that the host's and a sharer's amounts never add up to more than was paid (docs/social.md),
whatever the lines' rates and amounts."""

from __future__ import annotations

import itertools

from core.settings import ShareSettings
from orders.commissions import (
    ShareLine,
    commission_amount,
    share_amount,
    share_rates_bp,
    weighted_share_rates_bp,
)
from orders.regular import order_rate_bp


def test_host_and_sharer_never_exceed_what_a_multi_line_order_paid() -> None:
    rules = ShareSettings(rate_cap_bp=2000, default_rate_bp=2000)
    # three lines of 1,997 at 80%: each line's commission rounded up would give 4,794, and
    # with the sharer's 1,198 more than the 5,991 paid
    cases = [[(1997, 8000)] * 3]
    cases += [list(zip(amounts, rates, strict=True)) for amounts, rates in itertools.product(
        itertools.product((1, 3, 999, 1997, 12_345), repeat=2),
        itertools.product((0, 1, 5000, 7999, 9500, 10_000), repeat=2))]
    for lines in cases:
        rows = [{"amount_minor": a, "commission_rate_bp": r} for a, r in lines]
        rate = order_rate_bp(rows)
        paid = sum(a for a, _ in lines)
        host = commission_amount(paid, rate)
        [share_bp] = share_rates_bp(rate, None, rules, 1)
        assert host + share_amount(paid, share_bp) <= paid, lines


def test_a_sharer_earns_each_lines_rate_weighted_and_the_sums_hold() -> None:
    rules = ShareSettings(rate_cap_bp=2000, default_rate_bp=500, level2_rate_bp=100)
    # one line, or lines of one rate: the rate of `share_rates_bp` itself
    assert weighted_share_rates_bp([ShareLine(999, 1000, 750)], rules, 2) == [750, 100]
    assert weighted_share_rates_bp([ShareLine(1, 1000, None), ShareLine(5, 1000, None)],
                                   rules, 1) == [500]
    # two products: each its own rate on its line's amount, rounded down once
    assert weighted_share_rates_bp([ShareLine(2500, 1000, 1000), ShareLine(2400, 1000, 200)],
                                   rules, 1) == [(2500 * 1000 + 2400 * 200) // 4900]
    for amounts, host_rates, share_rates in itertools.product(
            itertools.product((0, 1, 999, 12_345), repeat=2),
            itertools.product((0, 5000, 9500, 10_000), repeat=2),
            itertools.product((None, 0, 1999, 9000), repeat=2)):
        lines = [ShareLine(*line) for line in zip(amounts, host_rates, share_rates, strict=True)]
        host_bp = order_rate_bp([{"amount_minor": line.amount_minor,
                                  "commission_rate_bp": line.host_rate_bp} for line in lines])
        levels = weighted_share_rates_bp(lines, rules, 2)
        paid = sum(amounts)
        assert sum(levels) <= rules.rate_cap_bp and host_bp + sum(levels) <= 10_000, lines
        assert commission_amount(paid, host_bp) + sum(
            share_amount(paid, bp) for bp in levels) <= paid, lines
