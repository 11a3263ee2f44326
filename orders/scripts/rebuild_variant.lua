-- Replace one variant's Redis keys with counters rebuilt from PostgreSQL, in one step.
--
-- KEYS[1] the variant's stock hash   KEYS[2] its holds hash
-- ARGV[1] initial (the variant's stock)  ARGV[2] available  ARGV[3] held  ARGV[4] sold
-- ARGV[5] number of holds, then (order id, "user:quantity:state") pairs
redis.call('DEL', KEYS[1], KEYS[2])
local holds = tonumber(ARGV[5])
for n = 1, holds do
  redis.call('HSET', KEYS[2], ARGV[5 + 2 * n - 1], ARGV[5 + 2 * n])
end
redis.call('HSET', KEYS[1], 'initial', ARGV[1], 'available', ARGV[2], 'held', ARGV[3],
  'sold', ARGV[4])
return 1
