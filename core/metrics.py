"""The process's Prometheus metrics (`prometheus_client`, default registry).

Domain packages increment these; `web/metrics.py` serves them at `GET /metrics`. Every label
takes values from a small fixed set (a route's path template, a task's name, an outcome
code), never from a request: unbounded label values are unbounded memory. See
docs/operations.md for what each one means and the alerts worth setting on them.

Hot paths bind their labelled children once, here or at first use, so an increment is a
`.inc()` on a child (a lock-guarded float add inside prometheus_client), not a label lookup.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds: 1 ms (a cached read) up to 10 s (a request stuck behind a pool or a lock).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Pool checkouts are usually free (microseconds); waits show from a millisecond up to the
# Redis pool's 5 s timeout.
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0)

# HTTP ------------------------------------------------------------------------------------------

HTTP_REQUEST_SECONDS = Histogram(
    "livesell_http_request_duration_seconds",
    "HTTP requests by route template, method and status: time to the last byte of the reply "
    "(its _count is the request count)",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS)

# Realtime --------------------------------------------------------------------------------------

# Connections and rooms are read off the hub at scrape time (see web/metrics.py), so the hub
# does no bookkeeping for them.
WS_CONNECTIONS = Gauge("livesell_ws_connections", "Open websocket connections in this process")
WS_ROOMS = Gauge("livesell_ws_rooms", "Rooms this process is subscribed to")
WS_MESSAGES = Counter("livesell_ws_messages_received_total",
                      "Room and user events this process received from pub/sub")
WS_FANOUTS = Counter("livesell_ws_fanouts_total",
                     "Frames fanned out to a room's local connections (one per fan-out)")
WS_FRAMES_SENT = Counter("livesell_ws_frames_sent_total",
                         "Frames offered to connections (a fan-out to 1,000 viewers counts 1,000)")
WS_SLOW_CONSUMERS = Counter("livesell_ws_slow_consumers_total",
                            "Connections closed because they did not keep up (close code 4408)")

# Orders ----------------------------------------------------------------------------------------

BUY_OUTCOMES = Counter("livesell_buy_outcomes_total", "Buy requests by outcome", ["outcome"])
# Bound once: the buy path does one `.inc()` on one of these.
BUY_RESERVED = BUY_OUTCOMES.labels("reserved")
BUY_SOLD_OUT = BUY_OUTCOMES.labels("sold_out")
BUY_LIMIT_REACHED = BUY_OUTCOMES.labels("limit_reached")
BUY_NOT_STARTED = BUY_OUTCOMES.labels("not_started")
BUY_ENDED = BUY_OUTCOMES.labels("ended")
BUY_REPLAYED = BUY_OUTCOMES.labels("replayed")
BUY_WRITE_FAILED = BUY_OUTCOMES.labels("write_failed")

WRITER_BATCH_SIZE = Histogram(
    "livesell_order_writer_batch_size", "Orders per batched insert",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
WRITER_COMMIT_SECONDS = Histogram(
    "livesell_order_writer_commit_seconds", "Time of one batched insert (one round trip, autocommit)",
    buckets=LATENCY_BUCKETS)
WRITER_QUEUE = Gauge("livesell_order_writer_queue", "Orders waiting for the batched insert")

OUTBOX_BACKLOG = Gauge("livesell_outbox_backlog",
                       "Outbox messages not yet delivered (read at scrape time)")
OUTBOX_OLDEST_SECONDS = Gauge("livesell_outbox_oldest_age_seconds",
                              "Age of the oldest undelivered outbox message (0 when none)")

# Engagement ------------------------------------------------------------------------------------

DRAW_KEYWORD_LINES_DROPPED = Counter(
    "livesell_draw_keyword_lines_dropped_total",
    "Chat lines the draw keyword listener dropped because too many entries were in flight")

# Pools -----------------------------------------------------------------------------------------

POOL_WAIT_SECONDS = Histogram(
    "livesell_pool_wait_seconds",
    "Time to check a connection out of a pool (a new connection's connect time included)",
    ["pool"], buckets=WAIT_BUCKETS)
POSTGRES_POOL_WAIT = POOL_WAIT_SECONDS.labels("postgres")
REDIS_POOL_WAIT = POOL_WAIT_SECONDS.labels("redis")
POOL_IN_USE = Gauge("livesell_pool_connections_in_use", "Connections checked out (at scrape time)",
                    ["pool"])
