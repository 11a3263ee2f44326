-- Publish one room event atomically: assign the next offset, apply the state
-- changes the event implies, append it to the resume history (and, for chat,
-- to the recent-chat list the hello carries), publish it.
-- Doing all of it in one script means the offset order is the delivery order,
-- and a snapshot read (state + offset + recent chat) is always consistent with the history.
--
-- KEYS[1] offset counter   KEYS[2] state hash   KEYS[3] history (zset by offset)
-- KEYS[4] recent chat list (newest first)
-- ARGV[1] channel          ARGV[2] body: a JSON object without "offset", starting with '{'
-- ARGV[3] history length to keep
-- ARGV[4] recent chat length to keep (0: this event is not a chat line)
-- ARGV[5] number of state operations, then pairs (field, value); value "" deletes the field
local offset = redis.call('INCR', KEYS[1])
local frame = '{"offset":' .. offset .. ',' .. string.sub(ARGV[2], 2)
local ops = tonumber(ARGV[5])
for i = 0, ops - 1 do
  local field = ARGV[6 + 2 * i]
  local value = ARGV[7 + 2 * i]
  if value == '' then
    redis.call('HDEL', KEYS[2], field)
  else
    redis.call('HSET', KEYS[2], field, value)
  end
end
if ops > 0 then
  redis.call('HSET', KEYS[2], '__offset', offset)
end
redis.call('ZADD', KEYS[3], offset, frame)
local keep = tonumber(ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -keep - 1)
local recent = tonumber(ARGV[4])
if recent > 0 then
  redis.call('LPUSH', KEYS[4], frame)
  redis.call('LTRIM', KEYS[4], 0, recent - 1)
end
redis.call('PUBLISH', ARGV[1], frame)
return offset
