-- Keep the first replies of a batch of committed orders, so that a repeat of an idempotency
-- key is answered by the reserve script, from Redis.
--
-- KEYS[1] replies hash ("user:key" -> reply JSON)
-- KEYS[2] stock hash, whose lifetime the replies take: the sale's keys' (set by the rebuild)
-- ARGV    (field, reply) pairs
-- Without the stock hash (the sale's keys expired or were dropped) nothing is written: the
-- rebuild that brings the keys back restores the idempotency entries from PostgreSQL, and a
-- repeat is answered from there.
-- Returns the number of replies kept.
local ttl = redis.call('PTTL', KEYS[2])
if ttl == -2 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return #ARGV / 2
