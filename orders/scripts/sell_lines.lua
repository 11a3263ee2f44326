-- A regular-price order was paid: its held units become sold, all lines at once. A line whose
-- hold is gone (the order expired and its units went back) is taken again from the available
-- count if every such line still has enough; otherwise nothing moves.
--
-- KEYS[2i-1] line i's variant stock hash   KEYS[2i] line i's variant holds hash
-- ARGV[1] order id   ARGV[2] user id   ARGV[2 + i] line i's quantity
-- Returns 1 sold from the holds | 2 sold, some lines taken again after an expiry |
--         0 already sold | {-5, line}: not enough units for a line whose hold is gone |
--         -6 keys missing (nothing moved)
local lines = #KEYS / 2
local sold_already = 0
for i = 1, lines do
  local available = redis.call('HGET', KEYS[2 * i - 1], 'available')
  if not available then
    return -6
  end
  local hold = redis.call('HGET', KEYS[2 * i], ARGV[1])
  if hold then
    if string.sub(hold, -1) == 's' then
      sold_already = sold_already + 1
    end
  elseif tonumber(available) < tonumber(ARGV[2 + i]) then
    return {-5, i}
  end
end
if sold_already == lines then
  return 0
end
local taken_again = 0
for i = 1, lines do
  local quantity = tonumber(ARGV[2 + i])
  local hold = redis.call('HGET', KEYS[2 * i], ARGV[1])
  if not hold then
    redis.call('HINCRBY', KEYS[2 * i - 1], 'available', -quantity)
    redis.call('HINCRBY', KEYS[2 * i - 1], 'sold', quantity)
    taken_again = 1
  elseif string.sub(hold, -1) == 'r' then
    redis.call('HINCRBY', KEYS[2 * i - 1], 'held', -quantity)
    redis.call('HINCRBY', KEYS[2 * i - 1], 'sold', quantity)
  end
  redis.call('HSET', KEYS[2 * i], ARGV[1], ARGV[2] .. ':' .. quantity .. ':s')
end
return 1 + taken_again
