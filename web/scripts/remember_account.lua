-- Keep a user's account for request authentication, unless Redis already holds a newer
-- token version: a logout writes the new version, and a request that read the old one from
-- PostgreSQL just before must not put it back.
-- KEYS[1] the account hash; ARGV: display name, role, token version, seconds to keep
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) > tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'n', ARGV[1], 'r', ARGV[2], 'v', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
