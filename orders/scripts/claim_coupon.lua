-- Claim one copy of a live-room coupon for a viewer: never more claims than copies, never two
-- for one viewer (orders/coupons.py).
-- KEYS[1] the copies left (a counter), KEYS[2] the viewers who claimed (a set, holding a "-"
-- sentinel so that an empty set still exists once built).
-- ARGV[1] the viewer's id.
-- Returns the copies left after this claim (>= 0), or -1 (keys missing: rebuild from
-- PostgreSQL), -2 (this viewer claimed already), -3 (no copy left).
local left = redis.call('GET', KEYS[1])
if not left or redis.call('EXISTS', KEYS[2]) == 0 then
    return -1
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
    return -2
end
left = tonumber(left)
if left <= 0 then
    return -3
end
redis.call('SET', KEYS[1], left - 1, 'KEEPTTL')
redis.call('SADD', KEYS[2], ARGV[1])
return left - 1
