"""A regular-price order's host entry is its weighted rate on the amount paid, rounded once, so
that the host's and a sharer's amounts never add up to more than was paid (docs/social.md),
whatever the lines' rates and amounts."""

from __future__ import annotations

import itertools

from core.settings import ShareSettings
from orders.commissions import commission_amount, share_amount, share_rates_bp
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
