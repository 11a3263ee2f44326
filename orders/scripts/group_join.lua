-- Hold a slot of an open group for a joiner while they pay: one slot per member, never more
-- slots than the group's size, only while it is open and before its deadline (by Redis TIME,
-- one clock for every web process). The group's units were set aside when it opened.
-- KEYS[1] the group (hash), KEYS[2] its members (hash: user -> "h:<order>" | "p:<order>").
-- ARGV[1] the joiner, ARGV[2] the order.
-- Returns the slots left after this one (>= 0), or -1 (keys missing: rebuild), -2 (already
-- in this group), -4 (failed), -5 (formed: full), -6 (deadline passed), -7 (every slot taken).
local group = redis.call('HMGET', KEYS[1], 'state', 'size', 'taken', 'deadline_ms')
if not group[1] then
    return -1
end
if group[1] == 'failed' then
    return -4
end
if group[1] == 'formed' then
    return -5
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if now_ms >= tonumber(group[4]) then
    return -6
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
    return -2
end
local size, taken = tonumber(group[2]), tonumber(group[3])
if taken >= size then
    return -7
end
redis.call('HINCRBY', KEYS[1], 'taken', 1)
redis.call('HSET', KEYS[2], ARGV[1], 'h:' .. ARGV[2])
return size - taken - 1
