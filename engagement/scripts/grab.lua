-- Grab one envelope of a red envelope rain, atomically.
--
-- KEYS[1] meta hash (opens_ms, closes_ms, host, room, closed): the window by Redis TIME
-- KEYS[2] list of the envelopes not yet handed out, "seq:amount", popped from the left
-- KEYS[3] grabbers hash (user id -> "seq:amount")
-- KEYS[4] the room's presence marks (sorted set: user id -> marked until, ms by Redis TIME)
-- ARGV[1] user id
--
-- Returns {code, ...}:
--   { 1, seq, amount, left, room} grabbed
--   {-1, opens_ms, now_ms}       not open yet        {-2, now_ms}  ended
--   {-3, seq, amount}            this user grabbed already (the first grab stands)
--   {-4}                         the host of the rain {-5}       every envelope is taken
--   {-6}                         keys missing: rebuild from PostgreSQL (fail closed)
--   {-7}                         the user is not in the room (no live presence mark)
local meta = redis.call('HMGET', KEYS[1], 'opens_ms', 'closes_ms', 'host', 'closed')
if not meta[1] or not meta[2] or not meta[3] then
  return {-6}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen = redis.call('HGET', KEYS[3], ARGV[1])
if seen then
  local sep = string.find(seen, ':', 1, true)
  return {-3, tonumber(string.sub(seen, 1, sep - 1)), tonumber(string.sub(seen, sep + 1))}
end
if meta[4] == '1' or now >= tonumber(meta[2]) then
  return {-2, now}
end
if now < tonumber(meta[1]) then
  return {-1, tonumber(meta[1]), now}
end
if meta[3] == ARGV[1] then
  return {-4}
end
local mark = redis.call('ZSCORE', KEYS[4], ARGV[1])
if not mark or tonumber(mark) < now then
  return {-7}
end
local envelope = redis.call('LPOP', KEYS[2])
if not envelope then
  return {-5}
end
redis.call('HSET', KEYS[3], ARGV[1], envelope)
local sep = string.find(envelope, ':', 1, true)
return {1, tonumber(string.sub(envelope, 1, sep - 1)), tonumber(string.sub(envelope, sep + 1)),
        redis.call('LLEN', KEYS[2]), tonumber(redis.call('HGET', KEYS[1], 'room'))}
