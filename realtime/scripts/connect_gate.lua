-- Count one websocket connection attempt from a client address in a fixed window.
-- INCR, and PEXPIRE only when this INCR created the key: Redis 6.2 has no EXPIRE ... NX,
-- and in one script the two cannot be split by a crash (no counter left without a TTL).
--
-- KEYS[1] the address's counter   ARGV[1] window ms
-- Returns {attempts in this window, ms until the window ends}.
local attempts = redis.call('INCR', KEYS[1])
if attempts == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {attempts, tonumber(ARGV[1])}
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  -- A key without a TTL (written by something else): give it one now.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {attempts, left}
