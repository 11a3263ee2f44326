-- Hold the units of every line of one regular-price order (a single buy or a cart), all or
-- none, atomically. Checks every line before any write: the variant's keys exist (missing keys
-- fail closed: the caller rebuilds them from PostgreSQL), the order does not hold them already,
-- and enough units are available. Only then does it write.
--
-- KEYS[2i-1] line i's variant stock hash (available, held, sold, initial)
-- KEYS[2i]   line i's variant holds hash (order id -> "user:quantity:state", r held, s sold)
-- KEYS[#KEYS] the host's unwritten zset: entries scored by the time (epoch ms) the order must
--            be in PostgreSQL by, so that a hold whose process died before the commit is found
--            and released (orders.regular.release_unwritten_orders)
-- ARGV[1] order id   ARGV[2] user id   ARGV[3] ms the order may take to be written
-- ARGV[4] the unwritten entry ("order:user:variant,variant,...")
-- ARGV[4 + i] line i's quantity
--
-- Returns {1, now_ms} held | {-3, line} this order holds the line already |
--         {-5, line, available} not enough units | {-6, line} keys missing
local lines = (#KEYS - 1) / 2
for i = 1, lines do
  local available = redis.call('HGET', KEYS[2 * i - 1], 'available')
  if not available then
    return {-6, i}
  end
  if redis.call('HEXISTS', KEYS[2 * i], ARGV[1]) == 1 then
    return {-3, i}
  end
  if tonumber(available) < tonumber(ARGV[4 + i]) then
    return {-5, i, tonumber(available)}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, lines do
  local quantity = tonumber(ARGV[4 + i])
  redis.call('HINCRBY', KEYS[2 * i - 1], 'available', -quantity)
  redis.call('HINCRBY', KEYS[2 * i - 1], 'held', quantity)
  redis.call('HSET', KEYS[2 * i], ARGV[1], ARGV[2] .. ':' .. quantity .. ':r')
end
redis.call('ZADD', KEYS[#KEYS], now + tonumber(ARGV[3]), ARGV[4])
return {1, now}
