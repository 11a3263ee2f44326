-- Replace a sale's Redis keys with counters rebuilt from PostgreSQL, in one step.
--
-- KEYS[1] meta  KEYS[2] stock  KEYS[3] users  KEYS[4] idem  KEYS[5] holds  KEYS[6] unwritten
-- (emptied: every order the rebuild counts is written, and the new epoch refuses the rest)
-- ARGV[1] start_ms  ARGV[2] end_ms  ARGV[3] per-user limit  ARGV[4] epoch
-- ARGV[5] available  ARGV[6] reserved  ARGV[7] sold  ARGV[8] first reservation number of
-- the epoch  ARGV[9] keys' time to live in ms  ARGV[10] initial quantity
-- ARGV[11] number of users, then (user, units) pairs;
-- then the number of idempotency fields, then (field, reservation) pairs;
-- then the number of holds, then (reservation, "user:quantity:state") pairs.
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
local i = 12
local users = tonumber(ARGV[i])
for n = 1, users do
  redis.call('HSET', KEYS[3], ARGV[i + 2 * n - 1], ARGV[i + 2 * n])
end
i = i + 2 * users + 1
local idem = tonumber(ARGV[i])
for n = 1, idem do
  redis.call('HSET', KEYS[4], ARGV[i + 2 * n - 1], ARGV[i + 2 * n])
end
i = i + 2 * idem + 1
local holds = tonumber(ARGV[i])
for n = 1, holds do
  redis.call('HSET', KEYS[5], ARGV[i + 2 * n - 1], ARGV[i + 2 * n])
end
redis.call('HSET', KEYS[2], 'available', ARGV[5], 'reserved', ARGV[6], 'sold', ARGV[7])
local room, product, price, currency = string.match(ARGV[11], '^(%d+):(%d+):(%d+):(%u+)$')
redis.call('HSET', KEYS[1], 'start_ms', ARGV[1], 'end_ms', ARGV[2], 'limit', ARGV[3],
  'epoch', ARGV[4], 'seq', ARGV[8], 'initial', ARGV[10], 'room', room, 'product', product,
  'price', price, 'currency', currency, 'paused', '0')
local ttl = tonumber(ARGV[9])
for k = 1, 5 do
  redis.call('PEXPIRE', KEYS[k], ttl)
end
return 1
