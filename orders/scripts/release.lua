-- Give a reservation's (or a sale's) units back to the available count, at most once.
--
-- The holds hash is the once-only guard: the units move only if the reservation is there in
-- the expected state, and the entry is removed in the same step. A reservation the hash does
-- not know (already released, or made before a rebuild that did not count it) changes nothing.
--
-- KEYS[1] meta  KEYS[2] stock  KEYS[3] users  KEYS[4] idem  KEYS[5] holds  (KEYS[6] unused)
-- ARGV[1] reservation number
-- ARGV[2] expected state: r (reserved, not paid) or s (sold, being refunded)
-- ARGV[3] idempotency field to forget ("user:key"), or "" to keep it (the order exists
--         and a repeat of the key must keep returning it). Forgotten only while it still
--         names this reservation.
-- Returns 1 released, 0 nothing to do, -6 keys missing (rebuild from PostgreSQL instead).
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then
  return -6
end
local hold = redis.call('HGET', KEYS[5], ARGV[1])
if not hold then
  return 0
end
local user, quantity, state = string.match(hold, '^(%d+):(%d+):(%a)$')
if state ~= ARGV[2] then
  return 0
end
quantity = tonumber(quantity)
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'available', quantity)
if state == 'r' then
  redis.call('HINCRBY', KEYS[2], 'reserved', -quantity)
else
  redis.call('HINCRBY', KEYS[2], 'sold', -quantity)
end
if redis.call('HINCRBY', KEYS[3], user, -quantity) <= 0 then
  redis.call('HDEL', KEYS[3], user)
end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[4], ARGV[3]) == ARGV[1] then
  redis.call('HDEL', KEYS[4], ARGV[3])
end
return 1
