-- May this user post a chat line now? Checks, in order: a line the client sent already (the
-- same client id: a frame resent after a reconnect), muted, slow mode, per-user rate limit;
-- when allowed, starts the user's rate and slow-mode windows and remembers the client id.
-- Time is Redis TIME, so every web process agrees.
--
-- KEYS[1] muted (hash user -> until epoch s, 0 = until unmuted)
-- KEYS[2] the user's rate-limit window   KEYS[3] the user's slow-mode window
-- KEYS[4] (optional) the line's client id, per user, remembered for ARGV[4] s once posted
-- ARGV[1] user id   ARGV[2] min interval ms (0 = none)   ARGV[3] slow mode s (0 = off)
-- Returns {0, 0} allowed, {1, until} muted, {2, retry ms} slow mode, {3, retry ms} rate limit,
-- {4, 0} posted already (nothing changes).
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 then
  return {4, 0}
end
local now_s = tonumber(redis.call('TIME')[1])
local until_raw = redis.call('HGET', KEYS[1], ARGV[1])
if until_raw then
  local until_s = tonumber(until_raw)
  if until_s == 0 or until_s > now_s then
    return {1, until_s}
  end
end
-- The ms left of a window still open (its key's time to live), else nil.
local function open_window(key)
  local left = redis.call('PTTL', key)
  if left > 0 then
    return left
  end
end
local slow = tonumber(ARGV[3])
local slow_left = slow > 0 and open_window(KEYS[3])
if slow_left then
  return {2, slow_left}
end
local interval = tonumber(ARGV[2])
local rate_left = interval > 0 and open_window(KEYS[2])
if rate_left then
  return {3, rate_left}
end
if interval > 0 then
  redis.call('SET', KEYS[2], 1, 'PX', interval)
end
if slow > 0 then
  redis.call('SET', KEYS[3], 1, 'EX', slow)
end
if KEYS[4] then
  redis.call('SET', KEYS[4], 1, 'EX', tonumber(ARGV[4]))
end
return {0, 0}
