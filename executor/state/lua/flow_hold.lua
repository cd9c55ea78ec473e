-- FLOW_HOLD: hold an invocation of a flow-controlled function back until the dispatcher
-- takes it; one that holds a slot already is left where it is. A newly held invocation is
-- counted under the limit that holds it now, if one does.
--
-- KEYS  1 held (scored by the time it may start)   2 slots   3 flow state
--       4, 5 (unless the store is a Cluster) the flow pass's time-ordered index and wake
--       counts: the function is woken there in the same step
-- ARGV  1 request_id   2 may start at   3 max instances (-1 unlimited)   4 rate ('' if none)
--       5 now   6 the function's URN (for the index)
-- Answers 1 if it was held by this call, 0 if it was held or in a slot already.
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then return 0 end
-- The stored limits in the flow state win over the caller's copy, as in FLOW_TAKE.
local s = redis.call('HMGET', KEYS[3], 'tokens', 'ts', 'max', 'rate')
local max = tonumber(s[3] or ARGV[3])
local limit = s[4] or ARGV[4]
local reason = nil
if max == 0 then
  reason = 'paused'
elseif max > 0 and redis.call('ZCARD', KEYS[2]) >= max then
  reason = 'max_instances'
elseif limit ~= '' then
  local rate = tonumber(limit)
  local burst = math.max(1, rate)
  local tokens = burst
  if s[1] then
    tokens = math.min(burst, tonumber(s[1]) + (tonumber(ARGV[5]) - tonumber(s[2])) * rate)
  end
  if tokens < 1 then reason = 'rate' end
end
if reason then redis.call('HINCRBY', KEYS[3], 'throttled|' .. reason, 1) end
if KEYS[5] then
  redis.call('ZADD', KEYS[4], 'LT', ARGV[2], ARGV[6])
  redis.call('HINCRBY', KEYS[5], ARGV[6], 1)
end
return 1
