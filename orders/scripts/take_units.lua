-- Take units out of a variant's pool for good (a flash sale's quantity): the variant's stock
-- and its available count both go down, so `initial = available + held + sold` still holds and
-- no regular buy can hold the units any more. Atomic against the hold script: either every
-- unit is there and taken, or nothing moves.
--
-- KEYS[1] the variant's stock hash (initial, available, held, sold)
-- ARGV[1] units to take (> 0)
-- Returns the units available after the take | {-5, available} not enough | -6 keys missing
local available = redis.call('HGET', KEYS[1], 'available')
if not available then
  return -6
end
local units = tonumber(ARGV[1])
if tonumber(available) < units then
  return {-5, tonumber(available)}
end
redis.call('HINCRBY', KEYS[1], 'initial', -units)
return redis.call('HINCRBY', KEYS[1], 'available', -units)
