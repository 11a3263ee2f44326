-- Free the slot of a member whose order expired or was cancelled unpaid: once, and only the
-- slot of that order (the same buyer may hold a newer one). The group keeps its units.
-- KEYS[1] the group (hash), KEYS[2] its members. ARGV[1] the member, ARGV[2] the order.
-- Returns 1 (freed), 0 (nothing to free), -1 (keys missing).
if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'h:' .. ARGV[2] then
    return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'taken', -1)
return 1
