-- Claim one copy of a live-room coupon for a viewer: never more claims than copies, never two
-- for one viewer (orders/coupons.py).
-- KEYS[1] the copies left (a counter), KEYS[2] the viewers who claimed (a set, holding a "-"
-- sentinel so that an empty set still exists once built), KEYS[3] the unwritten claims (a zset:
-- viewer id scored by the time, in epoch ms, by which the claim must be in PostgreSQL; the
-- sweep gives back the copy of one that never got there: its process died before the commit).
-- ARGV[1] the viewer's id. ARGV[2] how long the claim may take to be committed, in ms.
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
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[3]) < 0 then
    -- A new zset: it lives as long as the coupon's other keys.
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then
        redis.call('PEXPIRE', KEYS[3], ttl)
    end
end
return left - 1
