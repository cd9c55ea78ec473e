-- TAKE_DUE: take the delayed invocations that are due off the index, so one caller alone
-- publishes each.
--
-- KEYS  1 due-time index
-- ARGV  1 now   2 how many at most
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
