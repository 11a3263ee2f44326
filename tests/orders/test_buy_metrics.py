"""Buy outcomes by code, and the order writer's batches, as /metrics shows them."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.orders.conftest import buy


def outcome(name: str) -> float:
    return REGISTRY.get_sample_value("livesell_buy_outcomes_total", {"outcome": name}) or 0.0


def samples() -> dict[str, float]:
    counts = {name: outcome(name) for name in (
        "reserved", "sold_out", "limit_reached", "not_started", "replayed", "write_failed")}
    counts["batches"] = REGISTRY.get_sample_value("livesell_order_writer_batch_size_count") or 0.0
    counts["orders"] = REGISTRY.get_sample_value("livesell_order_writer_batch_size_sum") or 0.0
    counts["commits"] = (
        REGISTRY.get_sample_value("livesell_order_writer_commit_seconds_count") or 0.0)
    return counts


async def test_each_buy_outcome_is_counted_once(client, make_user, make_sale):
    # given a sale of 2 units, one per person, and one that starts in an hour
    sale = await make_sale(quantity=2, per_user_limit=1)
    later = await make_sale(quantity=2, start_in_seconds=3600)
    first, second, third = await make_user(), await make_user(), await make_user()
    before = samples()

    # when two buy, one comes back, one repeats a key, one finds it sold out, one is early
    assert (await buy(client, first, sale.id, "a")).status_code == 201
    assert (await buy(client, second, sale.id, "b")).status_code == 201
    assert (await buy(client, first, sale.id, "a")).status_code == 201  # replayed
    assert (await buy(client, first, sale.id, "c")).status_code == 409  # limit
    assert (await buy(client, third, sale.id, "d")).status_code == 409  # sold out
    assert (await buy(client, third, later.id, "e")).status_code == 409  # not started

    # then each outcome is counted once, and two orders went through the writer
    after = samples()
    delta = {name: after[name] - before[name] for name in after}
    assert delta == {"reserved": 2, "sold_out": 1, "limit_reached": 1, "not_started": 1,
                     "replayed": 1, "write_failed": 0, "orders": 2,
                     "batches": delta["batches"], "commits": delta["batches"]}
    assert 1 <= delta["batches"] <= 2
