-- A paid member of a formed group was refunded (ops): their unit leaves the sold count, once,
-- back to the deal's available units, or (ARGV[3] = "1", the deal settled) to the product,
-- whose stock PostgreSQL moves in the refund's transaction.
-- KEYS[1] the deal's counters, KEYS[2] the group's members.
-- ARGV[1] the member, ARGV[2] the order, ARGV[3] to-product flag.
-- Returns 1 (moved), 0 (nothing to do), -1 (keys missing).
if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'p:' .. ARGV[2] then
    return 0
end
redis.call('HSET', KEYS[2], ARGV[1], 'r:' .. ARGV[2])
redis.call('HINCRBY', KEYS[1], 'sold', -1)
if ARGV[3] ~= '1' then
    redis.call('HINCRBY', KEYS[1], 'available', 1)
end
return 1
