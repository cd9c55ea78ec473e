-- FLOW_TAKE: take the held invocations that may start now, oldest first, as many as free
-- slots and the token bucket allow, and give each a slot until its lease ends (a function
-- that is not limited any more takes them all, without slots). Given an invocation whose
-- attempt ended, its slot (and any copy of it held meanwhile) is freed first, or it is held
-- again from a given time (a retry's wait): the slot it frees is taken in the same step.
--
-- KEYS  1 held   2 slots   3 flow state
-- ARGV  1 now   2 max instances (-1 unlimited, 0 paused)   3 rate ('' if none)
--       4 lease end of a new slot   5 how many at most   6 request id to free ('' none)
--       7 time to hold it again from ('' to free it for good)
-- A stored flow config's limits are kept in the flow state too, and win over ARGV 2 and 3
-- (the caller's copy may be a cache period old), so a pause holds at once.
-- Answers {wake, id...}: the ids taken, and when this function must be looked at again
-- ('' never: nothing held and no slot), for the time-ordered index of the flow pass.
if ARGV[6] and ARGV[6] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[6])
  if ARGV[7] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[7], ARGV[6])
  else
    redis.call('ZREM', KEYS[1], ARGV[6])
  end
end
local s = redis.call('HMGET', KEYS[3], 'tokens', 'ts', 'max', 'rate')
local max = tonumber(s[3] or ARGV[2])
local limit = s[4] or ARGV[3]
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[5])
if max == 0 then n = 0 end
if max > 0 then n = math.min(n, max - redis.call('ZCARD', KEYS[2])) end
local tokens = nil
local rate = nil
if limit ~= '' then
  rate = tonumber(limit)
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
if tokens and #ids > 0 then redis.call('HSET', KEYS[3], 'tokens', tokens - #ids, 'ts', now) end
-- When to look again: the first slot's lease end, and the first held invocation's start once
-- a slot and a token are free for it (a slot freed by a run's end takes it before then).
local wake = nil
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if first[1] then wake = tonumber(first[2]) end
local held = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if held[1] and max ~= 0 and (max < 0 or redis.call('ZCARD', KEYS[2]) < max) then
  local at = math.max(now, tonumber(held[2]))
  if tokens then
    local left = tokens - #ids
    if left < 1 then at = math.max(at, now + (1 - left) / rate) end
  end
  if not wake or at < wake then wake = at end
end
local answer = {wake and string.format('%.6f', wake) or ''}
for _, id in ipairs(ids) do answer[#answer + 1] = id end
return answer
