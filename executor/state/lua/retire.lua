-- RETIRE: remove an ended invocation whose retention is over, with everything kept of it in
-- its slot: the record, its history and deliveries, its entries in the function's indexes,
-- the delivery chains of its events and the part of its children listed in its shard.
--
-- KEYS  1 retirements   2 record   3 history   4 deliveries   5 index of the function
--       6 the function's invocations in its status   7 delivery chain of the success event
--       8 delivery chain of the failure event   9 children listed in this shard   10 outbox
-- ARGV  1 request_id   2 now   3 seconds to look again at one whose event is still on its way
--
-- Answers 1 when it was retired; 0 when it was not due (or was retired already); 2 when its
-- event is still being delivered, and it is looked at again later.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
if redis.call('ZSCORE', KEYS[10], ARGV[1]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
  return 2
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[7], KEYS[8], KEYS[9])
return 1
