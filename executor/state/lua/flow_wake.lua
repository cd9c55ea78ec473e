-- FLOW_WAKE: have the flow pass look at functions by given times (an earlier time stays), and
-- count the wake, so that a pass that looked at a function meanwhile does not drop it.
--
-- KEYS  1 the time-ordered index (function URN -> when to look at it)   2 wake counts
-- ARGV  urn, time, urn, time, ...
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'LT', ARGV[i + 1], ARGV[i])
  redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
end
return 1
