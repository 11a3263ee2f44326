-- Count one hit in a fixed window; refuse past the limit. INCR + PEXPIRE only (Redis 6.2 has
-- no EXPIRE ... NX): the window starts at the first hit and is never extended.
-- KEYS[1] the counter; ARGV[1] the limit, ARGV[2] the window in milliseconds
-- Returns 0 when the hit is allowed, else the milliseconds until the window ends.
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- The first hit, or a counter that somehow lost its expiry: it must not refuse forever.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if hits > tonumber(ARGV[1]) then
  return ttl
end
return 0
