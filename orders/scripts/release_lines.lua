-- Give the units of every line of one regular-price order back to the variants' available
-- counts, at most once. Each variant's holds hash is the once-only guard: a line moves only if
-- the order's hold is there in the expected state, and the hold is removed in the same step.
--
-- KEYS[2i-1] line i's variant stock hash   KEYS[2i] line i's variant holds hash
-- ARGV[1] order id   ARGV[2] expected state: r (held, not paid) or s (sold, being refunded)
-- Returns the number of lines released (0: nothing to do), or -6 if a variant's keys are
-- missing (nothing moved; rebuild from PostgreSQL, where the order has already moved).
local lines = #KEYS / 2
for i = 1, lines do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 0 then
    return -6
  end
end
local released = 0
for i = 1, lines do
  local hold = redis.call('HGET', KEYS[2 * i], ARGV[1])
  if hold then
    local _, quantity, state = string.match(hold, '^(%d+):(%d+):(%a)$')
    if state == ARGV[2] then
      quantity = tonumber(quantity)
      redis.call('HDEL', KEYS[2 * i], ARGV[1])
      redis.call('HINCRBY', KEYS[2 * i - 1], 'available', quantity)
      if state == 'r' then
        redis.call('HINCRBY', KEYS[2 * i - 1], 'held', -quantity)
      else
        redis.call('HINCRBY', KEYS[2 * i - 1], 'sold', -quantity)
      end
      released = released + 1
    end
  end
end
return released
