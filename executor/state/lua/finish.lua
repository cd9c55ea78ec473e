-- FINISH: the one terminal transition of an invocation (SUCCESS, FAIL or DISCARD).
--
-- KEYS  1 record   2 history   3 deliveries   4 active set of the function   5 deadlines
--       6 outbox   7 counters   8 due-time index   9 the function's invocations in WAIT
--      10 the function's invocations RUNNING   11 the function's invocations in this status
--      12 retirements   13 counters of this minute   14 counters of this ten-minute span
-- ARGV  1 request_id   2 status   3 now   4 condition   5 error_code   6 error_message
--       7 event ('' none)   8 destination ('' none)   9 retention (seconds)   10 note
--      11 outcome   12 pending delivery state (JSON, '' none)
--      13 the statuses it may end from, space-separated ('WAIT RUNNING', 'WAIT')
--      14 seconds a record outlives its retention if nothing retires it
--      15 ttl of a minute's counters   16 ttl of a span's counters
--
-- Only the first terminal transition wins and answers 1; its caller alone hands the event on.
-- The same call sent again (its reply lost in a failover, the client retried) is answered as
-- the winner. Anything else answers 0 and writes nothing. The ended invocation is listed by its
-- status until the reconciler retires it, a retention after now, with its record. An end other
-- than SUCCESS is counted as a dropped event, by its condition.
local s = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'urn', 'enqueued_at', 'due_at')
local status = s[1]
if not status then return 0 end
if status == 'SUCCESS' or status == 'FAIL' or status == 'DISCARD' then
  if status == ARGV[2] and redis.call('HGET', KEYS[1], 'ended_at') == ARGV[3] then return 1 end
  return 0
end
if not string.find(' ' .. ARGV[13] .. ' ', ' ' .. status .. ' ', 1, true) then return 0 end
local id, now, urn = ARGV[1], tonumber(ARGV[3]), s[3]
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'ended_at', ARGV[3], 'condition', ARGV[4],
  'error_code', ARGV[5], 'error_message', ARGV[6])
redis.call('RPUSH', KEYS[2], cjson.encode({status=ARGV[2], at=now, attempt=tonumber(s[2]),
  note=ARGV[10], error=ARGV[6]}))
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
if s[5] then redis.call('ZREM', KEYS[8], id) end
redis.call('ZREM', status == 'WAIT' and KEYS[9] or KEYS[10], id)
redis.call('ZADD', KEYS[11], s[4], id)
local retention = tonumber(ARGV[9])
redis.call('ZADD', KEYS[12], now + retention, id)
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'event', ARGV[7]) end
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'dest', ARGV[8], 'outcome', ARGV[11])
  redis.call('HSET', KEYS[3], ARGV[11], ARGV[12])
  redis.call('ZADD', KEYS[6], ARGV[3], id)
end
local ended = string.lower(ARGV[2])
redis.call('HINCRBY', KEYS[7], 'invocations.' .. ended, 1)
redis.call('HINCRBY', KEYS[7], 'fn|' .. urn .. '|' .. ended, 1)
if ARGV[2] ~= 'SUCCESS' then
  redis.call('HINCRBY', KEYS[7], 'fn|' .. urn .. '|dropped|' .. ARGV[4], 1)
end
-- A field counted for the first time gives its key the TTL; a key whose field counts on has it.
if redis.call('HINCRBY', KEYS[13], urn .. '|' .. ended, 1) == 1 then
  redis.call('EXPIRE', KEYS[13], tonumber(ARGV[15]))
end
if redis.call('HINCRBY', KEYS[14], urn .. '|' .. ended, 1) == 1 then
  redis.call('EXPIRE', KEYS[14], tonumber(ARGV[16]))
end
local ttl = retention + tonumber(ARGV[14])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if ARGV[8] ~= '' then redis.call('EXPIRE', KEYS[3], ttl) end
return 1
