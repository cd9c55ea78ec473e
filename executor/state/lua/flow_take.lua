-- FLOW_TAKE: take the held invocations that may start now, oldest first, as many as free
-- slots and the token bucket allow, and give each a slot until its lease ends (a function
-- that is not limited any more takes them all, without slots).
--
-- KEYS  1 held   2 slots   3 flow state
-- ARGV  1 now   2 max instances (-1 unlimited, 0 paused)   3 rate ('' if none)
--       4 lease end of a new slot   5 how many at most
-- A stored flow config's limits are kept in the flow state too, and win over ARGV 2 and 3
-- (the caller's copy may be a cache period old), so a pause holds at once.
local s = redis.call('HMGET', KEYS[3], 'tokens', 'ts', 'max', 'rate')
local max = tonumber(s[3] or ARGV[2])
local limit = s[4] or ARGV[3]
if max == 0 then return {} end
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[5])
if max > 0 then n = math.min(n, max - redis.call('ZCARD', KEYS[2])) end
local tokens = nil
if limit ~= '' then
  local rate = tonumber(limit)
  local burst = math.max(1, rate)
  tokens = burst
  if s[1] then tokens = math.min(burst, tonumber(s[1]) + (now - tonumber(s[2])) * rate) end
  n = math.min(n, math.floor(tokens))
end
local ids = {}
if n > 0 then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, n)
end
-- A function no longer limited drains its held set without taking slots.
local slotted = max ~= -1 or limit ~= ''
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  if slotted then redis.call('ZADD', KEYS[2], ARGV[4], id) end
end
if tokens then redis.call('HSET', KEYS[3], 'tokens', tokens - #ids, 'ts', now) end
return ids
