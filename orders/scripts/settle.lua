-- Move a paid reservation from reserved to sold, at most once.
--
-- KEYS[1] meta  KEYS[2] stock  KEYS[3] users  KEYS[4] idem  KEYS[5] holds  (KEYS[6] unused)
-- ARGV[1] reservation number
-- ARGV[2] user id  ARGV[3] quantity  ARGV[4] limit check: 1 to enforce the per-user limit
-- ARGV[5] idempotency field ("user:key"), restored when a late payment re-reserves
--
-- A reserved hold becomes sold. A hold that is gone (the order expired and its units went
-- back) is re-reserved straight as sold when the stock and the buyer's limit allow: that is
-- a payment arriving after its hold expired.
-- Returns 1 settled, 2 re-reserved as sold, 0 already sold, -4 limit, -5 no stock, -6 missing.
local meta = redis.call('HMGET', KEYS[1], 'limit', 'epoch')
if not meta[2] or redis.call('EXISTS', KEYS[2]) == 0 then
  return -6
end
local hold = redis.call('HGET', KEYS[5], ARGV[1])
if hold then
  local user, quantity, state = string.match(hold, '^(%d+):(%d+):(%a)$')
  if state == 's' then
    return 0
  end
  quantity = tonumber(quantity)
  redis.call('HSET', KEYS[5], ARGV[1], user .. ':' .. quantity .. ':s')
  redis.call('HINCRBY', KEYS[2], 'reserved', -quantity)
  redis.call('HINCRBY', KEYS[2], 'sold', quantity)
  return 1
end
local quantity = tonumber(ARGV[3])
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
if ARGV[4] == '1' and held + quantity > tonumber(meta[1]) then
  return -4
end
local available = tonumber(redis.call('HGET', KEYS[2], 'available') or '0')
if available < quantity then
  return -5
end
redis.call('HINCRBY', KEYS[2], 'available', -quantity)
redis.call('HINCRBY', KEYS[2], 'sold', quantity)
redis.call('HINCRBY', KEYS[3], ARGV[2], quantity)
redis.call('HSET', KEYS[4], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2] .. ':' .. quantity .. ':s')
return 2
