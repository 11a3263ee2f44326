-- A group failed (or an open that never committed is undone): all its units go back to the
-- deal's available count, the unpaid ones from held and the paid ones (refunded) from sold.
-- Once: only an open group closes.
-- KEYS[1] the deal's counters, KEYS[2] the group. ARGV: none.
-- Returns 1 (closed), 0 (not open), -1 (keys missing).
local group = redis.call('HMGET', KEYS[2], 'state', 'size', 'paid')
if not group[1] or redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
if group[1] ~= 'open' then
    return 0
end
local size, paid = tonumber(group[2]), tonumber(group[3])
redis.call('HSET', KEYS[2], 'state', 'failed')
redis.call('HINCRBY', KEYS[1], 'held', paid - size)
-- (0 - paid: a Lua -0 prints as "-0", which HINCRBY refuses)
redis.call('HINCRBY', KEYS[1], 'sold', 0 - paid)
redis.call('HINCRBY', KEYS[1], 'available', size)
return 1
