-- Give back one hit counted by limit_hit.lua (a login that turned out right). Never creates
-- the counter and keeps its expiry (DECR does).
-- KEYS[1] the counter
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
