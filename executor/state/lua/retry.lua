-- RETRY: back to WAIT between attempts. Answers 0, writing nothing, if the invocation ended.
--
-- KEYS  1 record   2 history   3 counters   4 the function's invocations in WAIT
--       5 the function's invocations RUNNING
-- ARGV  1 now   2 error message   3 note   4 request_id
local s = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'urn', 'enqueued_at')
local status = s[1]
if not status or status == 'SUCCESS' or status == 'FAIL' or status == 'DISCARD' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'WAIT', 'error_message', ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[4])
redis.call('ZADD', KEYS[4], s[4], ARGV[4])
redis.call('HINCRBY', KEYS[3], 'fn|' .. s[3] .. '|retries', 1)
redis.call('RPUSH', KEYS[2], cjson.encode({status='WAIT', at=tonumber(ARGV[1]),
  attempt=tonumber(s[2]), note=ARGV[3], error=ARGV[2]}))
return 1
