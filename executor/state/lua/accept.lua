-- ACCEPT: record a new invocation WAIT, with its broker message when one is given.
--
-- KEYS  1 record      2 history      3 index of the function      4 active set of the function
--       5 the function's invocations in WAIT                      6 deadlines   7 counters
--       8 due-time index             9 children of the origin
--      10 record of the redriven original (the record itself when none)
--      11 broker queue (the record itself when no message is given)
-- ARGV  1 request_id  2 urn          3 enqueued_at   4 deadline   5 chain (JSON)
--       6 payload     7 origin       8 WAIT transition (JSON)     9 due_at ('' none)
--      10 redrive_of  11 redrive number                           12 ttl of the children
--      13 traceparent 14 message ('' none)   15 event channel     16 task-sent event ('' none)
--
-- An id that exists answers {0, status, attempts, urn} for the same function and payload and
-- {-1, status, attempts, urn} for another one, and writes nothing. A new one answers
-- {1, 'WAIT', '0', urn}; its message is queued with it unless it is delayed.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local s = redis.call('HMGET', KEYS[1], 'urn', 'payload', 'status', 'attempts')
  local same = (s[1] == ARGV[2] and s[2] == ARGV[6]) and 0 or -1
  return {same, s[3] or 'WAIT', s[4] or '0', s[1] or ''}
end
local delayed = ARGV[9] ~= ''
redis.call('HSET', KEYS[1], 'urn', ARGV[2], 'status', 'WAIT', 'attempts', 0, 'claimed', -1,
  'crashes', 0, 'enqueued_at', ARGV[3], 'deadline', ARGV[4], 'chain', ARGV[5],
  'payload', ARGV[6], 'origin', ARGV[7], 'traceparent', ARGV[13])
redis.call('RPUSH', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
-- the active set orders a delayed invocation by its due time: it waits from then
redis.call('ZADD', KEYS[4], delayed and ARGV[9] or ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
if delayed then
  redis.call('HSET', KEYS[1], 'due_at', ARGV[9])
  redis.call('ZADD', KEYS[8], ARGV[9], ARGV[1])
end
if ARGV[7] ~= '' then
  redis.call('SADD', KEYS[9], ARGV[1])
  if redis.call('TTL', KEYS[9]) < tonumber(ARGV[12]) then
    redis.call('EXPIRE', KEYS[9], tonumber(ARGV[12]))
  end
end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'redrive_of', ARGV[10])
  local n = tonumber(redis.call('HGET', KEYS[10], 'redrives') or '0')
  if n < tonumber(ARGV[11]) then redis.call('HSET', KEYS[10], 'redrives', ARGV[11]) end
end
redis.call('HINCRBY', KEYS[7], 'fn|' .. ARGV[2] .. '|accepted', 1)
if ARGV[14] ~= '' and not delayed then
  redis.call('LPUSH', KEYS[11], ARGV[14])
  if ARGV[16] ~= '' then redis.call('PUBLISH', ARGV[15], ARGV[16]) end
end
return {1, 'WAIT', '0', ARGV[2]}
