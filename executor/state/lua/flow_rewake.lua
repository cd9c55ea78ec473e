-- FLOW_REWAKE: after the flow pass looked at a function, when to look again. A function woken
-- meanwhile (held, retried, its config changed: its wake count moved) keeps the earlier of
-- the two times, so no wake is lost to a pass that read the index before it.
--
-- KEYS  1 the time-ordered index   2 wake counts
-- ARGV  1 urn   2 the wake count the pass read   3 the next time ('' none)
local count = redis.call('HGET', KEYS[2], ARGV[1]) or '0'
if count == ARGV[2] then
  if ARGV[3] == '' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
  return redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
if ARGV[3] == '' then return 0 end
return redis.call('ZADD', KEYS[1], 'LT', ARGV[3], ARGV[1])
