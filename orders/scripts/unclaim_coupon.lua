-- A claim the script made never reached PostgreSQL (its commit failed): the viewer's copy goes
-- back, once (orders/coupons.py).
-- KEYS[1] the copies left, KEYS[2] the viewers who claimed. ARGV[1] the viewer's id.
-- Returns 1 if the copy went back, 0 if the viewer held none (already given back, or the keys
-- were rebuilt from PostgreSQL meanwhile).
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
    redis.call('INCR', KEYS[1])
    return 1
end
return 0
