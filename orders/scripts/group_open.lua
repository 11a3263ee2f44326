-- Open a group of a group deal: set its `size` units aside from the deal's available units and
-- give the opener the first slot, held while they pay (orders/group_stock.py).
-- KEYS[1] the deal's counters (hash: available, held, sold), KEYS[2] the group (hash: state,
-- size, taken, paid, deadline_ms), KEYS[3] the group's members (hash: user -> "h:<order>" held,
-- "p:<order>" paid). All share the deal's hash tag.
-- ARGV[1] the opener, ARGV[2] the order, ARGV[3] size, ARGV[4] the deadline (epoch ms).
-- Returns the deal's available units after (>= 0), or -1 (the deal's keys are missing:
-- rebuild from PostgreSQL), -3 (fewer than `size` units left: deal_sold_out).
if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
local size = tonumber(ARGV[3])
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
if available < size then
    return -3
end
redis.call('HINCRBY', KEYS[1], 'available', -size)
redis.call('HINCRBY', KEYS[1], 'held', size)
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'state', 'open', 'size', size, 'taken', 1, 'paid', 0,
           'deadline_ms', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], 'h:' .. ARGV[2])
return available - size
