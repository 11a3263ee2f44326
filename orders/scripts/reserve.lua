-- Reserve units of a flash sale for one buyer, atomically.
--
-- Checks, in this order and before any write: the sale's keys exist (a missing key fails
-- closed: the caller rebuilds the sale from PostgreSQL), the sale is not paused for a rebuild,
-- the sale window (by Redis TIME, the one clock every web process shares), the buyer's
-- idempotency key, the per-user limit, the stock. Only then does it write.
--
-- KEYS[1] meta hash (start_ms, end_ms, limit, epoch, paused, seq, and the sale's fixed terms:
--         room, product, price, currency, so a buy needs no read of the sale row)
-- KEYS[2] stock hash (available, reserved, sold)
-- KEYS[3] users hash (user id -> units held: reserved or sold)
-- KEYS[4] idem hash ("user:key" -> reservation number)
-- KEYS[5] holds hash (reservation number -> "user:quantity:state", state r=reserved s=sold)
-- KEYS[6] unwritten zset ("reservation:user:key" scored by the time its order must be written
--         by, in epoch ms): how the sweep finds a reservation whose process died before its
--         order reached PostgreSQL (docs/decisions/0013)
-- KEYS[7] replies hash ("user:key" -> the first reply, JSON, written once its order committed):
--         a repeat of the key is answered from here, without PostgreSQL
-- ARGV[1] user id   ARGV[2] idempotency key   ARGV[3] quantity
-- ARGV[4] how long the order may take to be written, in ms
--
-- Returns {code, ...}:
--   { 1, reservation_no, epoch, now_ms, available_after, room, product, price, currency }
--   {-1, now_ms} not started      {-2, now_ms} ended
--   {-3, reservation_no, epoch, now_ms, reply} the key was seen: the first reply stands
--                                 (reply is '' until the order's batch committed)
--   {-4, units_held}  limit reached      {-5, available}  sold out
--   {-6} keys missing (fail closed)      {-7} paused for a rebuild
local meta = redis.call('HMGET', KEYS[1], 'start_ms', 'end_ms', 'limit', 'epoch', 'paused')
if not meta[1] or not meta[2] or not meta[3] or not meta[4] then
  return {-6}
end
if meta[5] == '1' then
  return {-7}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(meta[1]) then
  return {-1, now}
end
if now >= tonumber(meta[2]) then
  return {-2, now}
end
local idem_field = ARGV[1] .. ':' .. ARGV[2]
local seen = redis.call('HGET', KEYS[4], idem_field)
if seen then
  local reply = redis.call('HGET', KEYS[7], idem_field) or ''
  return {-3, tonumber(seen), tonumber(meta[4]), now, reply}
end
local quantity = tonumber(ARGV[3])
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if held + quantity > tonumber(meta[3]) then
  return {-4, held}
end
local available = redis.call('HGET', KEYS[2], 'available')
if not available then
  return {-6}
end
available = tonumber(available)
if available < quantity then
  return {-5, available}
end
local reservation = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[2], 'available', -quantity)
redis.call('HINCRBY', KEYS[2], 'reserved', quantity)
redis.call('HINCRBY', KEYS[3], ARGV[1], quantity)
redis.call('HSET', KEYS[4], idem_field, reservation)
redis.call('HSET', KEYS[5], reservation, ARGV[1] .. ':' .. quantity .. ':r')
redis.call('ZADD', KEYS[6], now + tonumber(ARGV[4]), reservation .. ':' .. idem_field)
if redis.call('ZCARD', KEYS[6]) == 1 then
  -- A new zset: it lives as long as the sale's other keys (a rebuild set their TTL).
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[6], ttl)
  end
end
local terms = redis.call('HMGET', KEYS[1], 'room', 'product', 'price', 'currency')
return {1, reservation, tonumber(meta[4]), now, available - quantity,
        tonumber(terms[1]), tonumber(terms[2]), tonumber(terms[3]), terms[4]}
