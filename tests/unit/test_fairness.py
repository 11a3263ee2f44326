"""The published rules of rains and draws (engagement/fairness.py, docs/engagement.md): exact
sums and minimums, fair odds, and the rejection step of the random numbers."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import pytest

from engagement.fairness import Stream, commitment, pick_winners, split_rain

SEED = bytes(range(32))


def test_a_split_sums_to_the_pool_exactly_with_every_envelope_at_least_the_minimum() -> None:
    for total, count, minimum in ((100, 4, 5), (10_007, 25, 3), (1000, 1000, 1), (1, 1, 1),
                                  (10**12, 7, 1)):
        amounts = split_rain(SEED, total, count, minimum)
        assert len(amounts) == count and sum(amounts) == total and min(amounts) >= minimum
    assert split_rain(SEED, 100, 4, 5) == [5, 32, 6, 57]  # the worked example


def test_a_pool_too_small_for_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum"):
        split_rain(SEED, 99, 10, 10)


def test_every_envelope_has_the_same_expected_amount() -> None:
    # 2,000 rains of 4 envelopes of 400: each position averages close to 100.
    sums = [0, 0, 0, 0]
    for n in range(2000):
        for position, amount in enumerate(split_rain(n.to_bytes(32, "big"), 400, 4, 1)):
            sums[position] += amount
    assert all(abs(total / 2000 - 100) < 6 for total in sums), sums


def test_winners_are_distinct_entrants_and_every_entrant_has_the_same_odds() -> None:
    entrants = [11, 7, 3, 42, 5]
    wins: Counter[int] = Counter()
    for n in range(3000):
        picked = pick_winners(n.to_bytes(32, "big"), entrants, 2)
        assert len(set(picked)) == 2 and set(picked) <= set(entrants)
        wins.update(picked)
    # each of 5 entrants wins 2 of 5 draws: 1,200 of 3,000
    assert all(abs(count - 1200) < 120 for count in wins.values()), wins


def test_fewer_entrants_than_prizes_all_win_and_no_entrant_counts_twice() -> None:
    assert sorted(pick_winners(SEED, [9, 4], 5)) == [4, 9]
    assert pick_winners(SEED, [], 3) == []
    with pytest.raises(ValueError, match="twice"):
        pick_winners(SEED, [1, 1, 2], 1)
    assert pick_winners(SEED, [5, 3, 9, 1, 7], 2) == [1, 5]  # the worked example


def test_a_value_past_the_last_whole_multiple_of_the_bound_is_drawn_again() -> None:
    # With a bound just over 2^63 about half of all blocks are past the last whole multiple
    # and must be rejected: the stream's answer is that of the first block below the limit.
    bound = 2**63 + 12345
    limit = 2**64 - (2**64 % bound)
    stream = Stream(SEED, "draw")
    answers = [stream.below(bound) for _ in range(20)]
    expected, counter = [], 0
    while len(expected) < 20:
        block = hmac.new(SEED, f"draw:{counter}".encode(), hashlib.sha256).digest()
        counter += 1
        u = int.from_bytes(block[:8], "big")
        if u < limit:
            expected.append(u % bound)
    assert answers == expected and counter > 20  # some blocks were rejected
    assert stream.counter == counter


def test_the_commitment_is_the_sha256_of_the_seed_bytes() -> None:
    assert commitment(SEED) == hashlib.sha256(SEED).hexdigest() == (
        "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd")
