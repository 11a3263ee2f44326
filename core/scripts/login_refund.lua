-- Give back a login attempt counted by login_attempt.lua whose password was never checked
-- (the server was too busy), and the lock it set, if it set one: no later attempt has been
-- counted since when the lock still holds the same count.
-- KEYS[1] the failure count, KEYS[2] the lock
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures > 0 then
  if tonumber(redis.call('GET', KEYS[2]) or '0') == failures then
    redis.call('DEL', KEYS[2])
  end
  redis.call('DECR', KEYS[1])
end
return 0
