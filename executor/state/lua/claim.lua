-- CLAIM: start an attempt of the message with retry index ARGV[2], held by a runner.
--
-- KEYS  1 record   2 history   3 outbox   4 the function's invocations in WAIT
--       5 the function's invocations RUNNING   6 counters   7 counters of this minute
--       8 counters of this ten-minute span
-- ARGV  1 request_id   2 retry index of the message   3 now   4 crashes that end the invocation
--       5 runner   6 lease end   7 runner known to be gone ('' if none)
--       8 upper bounds of the buckets of ages at start, in seconds, space-separated
--       9 ttl of a minute's counters   10 ttl of a span's counters
--
-- Answers {state, attempts, detail[, extra]}:
--   'run', attempts, '', payload    the attempt starts; the payload comes with it (messages
--                                   are queued without it, the record keeps it once)
--   'done', attempts, pending event the invocation ended; the event if its delivery is pending
--   'stale'                         an older copy of a message that was retried since
--   'missing'                       no record (it passed its retention)
--   'busy', attempts, runner, lease a duplicate of a run whose runner holds its lease
--   'crashed'                       its runner was lost too often
-- While RUNNING, a claim whose lease ran out, or whose runner is known gone, was lost with its
-- worker: it runs again, counted, up to the bound. A run counts the age of its event at start
-- (from acceptance, or from the due time of a delayed one) in the bucket it falls in, and adds
-- it, in milliseconds, to the function's sum of ages.
local s = redis.call('HMGET', KEYS[1], 'status', 'claimed', 'attempts', 'crashes', 'runner',
  'lease', 'urn', 'enqueued_at', 'due_at')
local status = s[1]
if not status then return {'missing', 0, ''} end
local attempts = tonumber(s[3])
if status == 'SUCCESS' or status == 'FAIL' or status == 'DISCARD' then
  local pending = ''
  if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
    pending = redis.call('HGET', KEYS[1], 'event') or ''
  end
  return {'done', attempts, pending}
end
local retry = tonumber(ARGV[2])
local claimed = tonumber(s[2])
if claimed > retry or (claimed == retry and status == 'WAIT') then
  return {'stale', attempts, ''}
end
local now = tonumber(ARGV[3])
if status == 'RUNNING' then
  if s[6] and tonumber(s[6]) > now and s[5] ~= ARGV[7] then
    return {'busy', attempts, s[5] or '', s[6]}
  end
  local crashes = tonumber(s[4]) + 1
  redis.call('HSET', KEYS[1], 'crashes', crashes)
  if crashes >= tonumber(ARGV[4]) then return {'crashed', attempts, ''} end
else
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZADD', KEYS[5], s[8], ARGV[1])
end
attempts = attempts + 1
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'claimed', retry, 'attempts', attempts,
  'runner', ARGV[5], 'lease', ARGV[6])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3])
redis.call('RPUSH', KEYS[2], cjson.encode({status='RUNNING', at=now, attempt=attempts, note=''}))
local age = now - tonumber(s[9] or s[8])
local bucket = 0
for bound in string.gmatch(ARGV[8], '%S+') do
  if age <= tonumber(bound) then break end
  bucket = bucket + 1
end
local field = s[7] .. '|age|' .. bucket
redis.call('HINCRBY', KEYS[6], 'fn|' .. field, 1)
redis.call('HINCRBY', KEYS[6], 'fn|' .. s[7] .. '|age_ms', math.floor(age * 1000 + 0.5))
-- A field counted for the first time gives its key the TTL; a key whose field counts on has it.
if redis.call('HINCRBY', KEYS[7], field, 1) == 1 then
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[9]))
end
if redis.call('HINCRBY', KEYS[8], field, 1) == 1 then
  redis.call('EXPIRE', KEYS[8], tonumber(ARGV[10]))
end
return {'run', attempts, '', redis.call('HGET', KEYS[1], 'payload') or 'null'}
