-- Publish one user event atomically: assign the user's next offset, keep the frame in the
-- user's bounded history (for replay on reconnect), publish it to the user's channel.
-- One script, so the offset order is the delivery order and the history holds every
-- published frame up to the bound.
--
-- KEYS[1] the user's offset counter   KEYS[2] the user's history (zset by offset)
-- ARGV[1] channel   ARGV[2] body: a JSON object without "user_offset", starting with '{'
-- ARGV[3] events to keep   ARGV[4] seconds the history lives after its last event
-- ARGV[5] seconds the offset counter lives after the last event (far longer: a client's
--         offset stays meaningful while the history is long gone)
local offset = redis.call('INCR', KEYS[1])
local frame = '{"user_offset":' .. offset .. ',' .. string.sub(ARGV[2], 2)
redis.call('ZADD', KEYS[2], offset, frame)
local keep = tonumber(ARGV[3])
local count = redis.call('ZCARD', KEYS[2])
if count > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, count - keep - 1)
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[1], frame)
return offset
