-- One login attempt on one account: refused while the account is locked, else counted as a
-- failure before the password is checked (so that concurrent guesses cannot all slip in
-- under the limit); a successful login deletes both keys.
-- KEYS[1] the failure count, KEYS[2] the lock (one hash tag: one cluster slot)
-- ARGV: failures allowed, window ms (kept after the last failure), base lockout ms, max lockout ms
-- Returns 0 when the attempt may go on, else the milliseconds until the lock ends.
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then
  return locked
end
local failures = redis.call('INCR', KEYS[1])
local limit = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
if failures >= limit then
  -- The base lockout, doubled for each failure past the limit, capped.
  local lockout = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ (failures - limit), tonumber(ARGV[4])))
  redis.call('SET', KEYS[2], failures, 'PX', lockout)
  -- The count outlives the lock, so the next failure after it locks for longer.
  keep = keep + lockout
end
redis.call('PEXPIRE', KEYS[1], keep)
return 0
