-- Publish one room event atomically: assign the next offset, apply the state
-- changes the event implies, append it to the resume history (and, for chat,
-- to the recent-chat list the hello carries), publish it.
-- Doing all of it in one script means the offset order is the delivery order,
-- and a snapshot read (state + offset + recent chat) is always consistent with the history.
--
-- KEYS[1] offset counter   KEYS[2] state hash   KEYS[3] history (zset by offset)
-- KEYS[4] recent chat list (newest first)   KEYS[5] bytes of the frames in the history
-- ARGV[1] channel          ARGV[2] body: a JSON object without "offset", starting with '{'
-- ARGV[3] history length to keep (events)
-- ARGV[4] history size to keep (bytes of frames; the newest event is always kept)
-- ARGV[5] recent chat length to keep (0: this event is not a chat line)
-- ARGV[6] number of state operations, then pairs (field, value); value "" deletes the field
local offset = redis.call('INCR', KEYS[1])
local frame = '{"offset":' .. offset .. ',' .. string.sub(ARGV[2], 2)
local ops = tonumber(ARGV[6])
for i = 0, ops - 1 do
  local field = ARGV[7 + 2 * i]
  local value = ARGV[8 + 2 * i]
  if value == '' then
    redis.call('HDEL', KEYS[2], field)
  else
    redis.call('HSET', KEYS[2], field, value)
  end
end
if ops > 0 then
  redis.call('HSET', KEYS[2], '__offset', offset)
end
-- The history is trimmed oldest first to both bounds. Its size is kept in a counter
-- beside it (summing 2,000 frames per publish would cost more than the publish); a
-- history that is gone (evicted, say) starts the count again from nothing.
local size = 0
if redis.call('EXISTS', KEYS[3]) == 1 then
  size = tonumber(redis.call('GET', KEYS[5]) or '0')
end
redis.call('ZADD', KEYS[3], offset, frame)
size = size + #frame
local count = redis.call('ZCARD', KEYS[3])
local keep = tonumber(ARGV[3])
local keep_bytes = tonumber(ARGV[4])
while count > keep or (size > keep_bytes and count > 1) do
  local oldest = redis.call('ZPOPMIN', KEYS[3])
  size = size - #oldest[1]
  count = count - 1
end
if count == 1 then
  -- Exact again whatever happened to the history from outside this script.
  size = #frame
end
redis.call('SET', KEYS[5], size)
local recent = tonumber(ARGV[5])
if recent > 0 then
  redis.call('LPUSH', KEYS[4], frame)
  redis.call('LTRIM', KEYS[4], 0, recent - 1)
end
redis.call('PUBLISH', ARGV[1], frame)
return offset
