-- Publish one user event atomically: assign the user's next offset, keep the frame in the
-- user's bounded history (for replay on reconnect), publish it to the user's channel.
-- One script, so the offset order is the delivery order and the history holds every
-- published frame up to the bound.
--
-- An offset is `epoch * EPOCH_UNIT + n`: n counts the events of one life of the counter, and
-- the epoch is the Redis clock's millisecond when that life began (the counter was first
-- made, or made again after Redis lost it). A new life's offsets are so above every offset
-- of the lives before it, as long as no life saw more than EPOCH_UNIT events a millisecond of
-- its age (Redis runs a few hundred scripts a millisecond, of every user): a connection or a
-- page that skips what is at or below the last offset it saw takes a new life's events at
-- once, rather than dropping them until the new counter passes the old one. Past EPOCH_UNIT
-- events a life's offsets just go on counting. Milliseconds times 2^11 stay below 2^53,
-- exact in a double (Lua, JSON, a zset's score, JavaScript), until 2109.
--
-- KEYS[1] the user's offset counter   KEYS[2] the user's history (zset by offset)
-- ARGV[1] channel   ARGV[2] body: a JSON object without "user_offset", starting with '{'
-- ARGV[3] events to keep   ARGV[4] seconds the history lives after its last event
-- ARGV[5] seconds the offset counter lives after the last event (far longer: a client's
--         offset stays meaningful while the history is long gone)
local EPOCH_UNIT = 2048
local offset = redis.call('INCR', KEYS[1])
if offset < EPOCH_UNIT then
  -- a counter just made (or one from before epochs): a new life
  local now = redis.call('TIME')
  offset = (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) * EPOCH_UNIT + 1
  redis.call('SET', KEYS[1], string.format('%d', offset))
end
-- written as digits: Lua's own number to text would round a 16-digit offset
local offset_text = string.format('%d', offset)
local frame = '{"user_offset":' .. offset_text .. ',' .. string.sub(ARGV[2], 2)
redis.call('ZADD', KEYS[2], offset_text, frame)
local keep = tonumber(ARGV[3])
local count = redis.call('ZCARD', KEYS[2])
if count > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, count - keep - 1)
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[1], frame)
return offset
