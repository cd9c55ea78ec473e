-- FORGET: take back an accepted invocation whose message the broker refused, so nothing of it
-- is left half-written. Only a record still WAIT with no attempt is taken back.
--
-- KEYS  1 record   2 history   3 index of the function   4 active set of the function
--       5 the function's invocations in WAIT   6 deadlines   7 counters   8 due-time index
--       9 children of the origin
-- ARGV  1 request_id   2 urn
if redis.call('HGET', KEYS[1], 'status') ~= 'WAIT'
   or redis.call('HGET', KEYS[1], 'attempts') ~= '0' then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('SREM', KEYS[9], ARGV[1])
local field = 'fn|' .. ARGV[2] .. '|accepted'
if redis.call('HINCRBY', KEYS[7], field, -1) <= 0 then redis.call('HDEL', KEYS[7], field) end
return 1
