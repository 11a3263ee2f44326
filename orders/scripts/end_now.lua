-- Close a sale's window now (the host stopped it), by Redis TIME, the clock the buy script
-- checks the window with. Returns the end in epoch ms, or -6 when the keys are missing.
--
-- KEYS[1] meta
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -6
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local end_ms = tonumber(redis.call('HGET', KEYS[1], 'end_ms'))
if end_ms == nil or now < end_ms then
  redis.call('HSET', KEYS[1], 'end_ms', now)
  return now
end
return end_ms
