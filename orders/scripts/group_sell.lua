-- A member paid and PostgreSQL counted them (orders/group_members.py): their held slot is
-- theirs, their unit sold. Once: only a slot held by this order moves. ARGV[3] = "1" when
-- this payment formed the group.
-- KEYS[1] the deal's counters, KEYS[2] the group, KEYS[3] its members.
-- ARGV[1] the member, ARGV[2] the order, ARGV[3] formed flag.
-- Returns 1 (sold), 0 (nothing to do: done already, or the group failed meanwhile and gave
-- its units back), -1 (keys missing).
local state = redis.call('HGET', KEYS[2], 'state')
if not state or redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
if state == 'failed' or redis.call('HGET', KEYS[3], ARGV[1]) ~= 'h:' .. ARGV[2] then
    return 0
end
redis.call('HSET', KEYS[3], ARGV[1], 'p:' .. ARGV[2])
redis.call('HINCRBY', KEYS[2], 'paid', 1)
if ARGV[3] == '1' then
    redis.call('HSET', KEYS[2], 'state', 'formed')
end
redis.call('HINCRBY', KEYS[1], 'held', -1)
redis.call('HINCRBY', KEYS[1], 'sold', 1)
return 1
