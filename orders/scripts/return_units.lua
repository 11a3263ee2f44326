-- Units a flash sale no longer needs come back to the variant's pool (its settlement, or a
-- refund after it): the variant's stock and its available count both go up. The caller's
-- PostgreSQL transaction is the once-only guard (the sale's `settled_at`, the order's move to
-- refunded), under the variant's exclusive lock.
--
-- KEYS[1] the variant's stock hash   ARGV[1] units to return (> 0)
-- Returns the units available after it | -6 keys missing (nothing moved: the next rebuild
-- reads the stock from PostgreSQL)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -6
end
local units = tonumber(ARGV[1])
redis.call('HINCRBY', KEYS[1], 'initial', units)
return redis.call('HINCRBY', KEYS[1], 'available', units)
