-- One process reports a room's local connection count and the likes its
-- viewers sent since the last report; gets back the room's totals.
-- Counts of processes that stopped reporting (crashed) expire after ARGV[3] ms,
-- so a dead process never leaves ghost viewers behind. Time is Redis TIME.
--
-- KEYS[1] per-process counts (hash)   KEYS[2] last report per process (zset, ms)
-- KEYS[3] likes total                 KEYS[4] peak concurrent viewers
-- ARGV[1] process id   ARGV[2] local count   ARGV[3] ttl ms   ARGV[4] likes delta
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local count = tonumber(ARGV[2])
if count > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], count)
  redis.call('ZADD', KEYS[2], now, ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
for _, process in ipairs(stale) do
  redis.call('HDEL', KEYS[1], process)
  redis.call('ZREM', KEYS[2], process)
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
local total = 0
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  total = total + tonumber(value)
end
local peak = tonumber(redis.call('GET', KEYS[4]) or '0')
if total > peak then
  redis.call('SET', KEYS[4], total)
end
local likes
local delta = tonumber(ARGV[4])
if delta > 0 then
  likes = redis.call('INCRBY', KEYS[3], delta)
else
  likes = tonumber(redis.call('GET', KEYS[3]) or '0')
end
return {total, likes}
