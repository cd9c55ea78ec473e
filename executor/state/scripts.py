"""Lua scripts that make each status transition one atomic round trip."""

from __future__ import annotations

from typing import Final

_TERMINAL = "status == 'SUCCESS' or status == 'FAIL' or status == 'DISCARD'"

# KEYS: record, history, index, active, deadlines, stats
# ARGV: request_id, urn, enqueued_at, deadline, chain, payload, origin, transition, traceparent
CREATE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local s = redis.call('HMGET', KEYS[1], 'status', 'attempts')
  return {0, s[1], s[2]}
end
redis.call('HSET', KEYS[1], 'urn', ARGV[2], 'status', 'WAIT', 'attempts', 0, 'claimed', -1,
  'crashes', 0, 'enqueued_at', ARGV[3], 'deadline', ARGV[4], 'chain', ARGV[5],
  'payload', ARGV[6], 'origin', ARGV[7], 'traceparent', ARGV[9] or '')
redis.call('RPUSH', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('HINCRBY', KEYS[6], 'fn|' .. ARGV[2] .. '|accepted', 1)
return {1, 'WAIT', '0'}
"""

# KEYS: stats; ARGV: field
# Takes back a count that CREATE made for an invocation that was then never published.
UNCOUNT: Final = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
"""

# KEYS: record, history, outbox
# ARGV: request_id, retry index of the message, now, crashes that end the invocation,
#       runner, lease end, runner known to be gone ('' if none)
# A message whose retry index is below the claimed one is a stale duplicate. While RUNNING, a
# claim whose runner still holds its lease is busy (a duplicate of a live run); one whose lease
# ran out, or whose runner is known gone, was lost with its worker, so it runs again (bounded).
CLAIM: Final = f"""
local s = redis.call('HMGET', KEYS[1], 'status', 'claimed', 'attempts', 'crashes', 'runner',
  'lease')
local status = s[1]
if not status then return {{'missing', 0, ''}} end
local attempts = tonumber(s[3])
if {_TERMINAL} then
  local pending = ''
  if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
    pending = redis.call('HGET', KEYS[1], 'event') or ''
  end
  return {{'done', attempts, pending}}
end
local r = tonumber(ARGV[2])
local claimed = tonumber(s[2])
if claimed > r or (claimed == r and status == 'WAIT') then return {{'stale', attempts, ''}} end
if status == 'RUNNING' then
  if s[6] and tonumber(s[6]) > tonumber(ARGV[3]) and s[5] ~= ARGV[7] then
    return {{'busy', attempts, s[5] or '', s[6]}}
  end
  local crashes = tonumber(s[4]) + 1
  redis.call('HSET', KEYS[1], 'crashes', crashes)
  if crashes >= tonumber(ARGV[4]) then return {{'crashed', attempts, ''}} end
end
attempts = attempts + 1
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'claimed', r, 'attempts', attempts,
  'runner', ARGV[5], 'lease', ARGV[6])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3])
redis.call('RPUSH', KEYS[2], cjson.encode({{status='RUNNING', at=tonumber(ARGV[3]),
  attempt=attempts, note=''}}))
return {{'run', attempts, ''}}
"""

# KEYS: record, history, stats
# ARGV: now, error message, note
RETRY: Final = f"""
local status = redis.call('HGET', KEYS[1], 'status')
if not status or {_TERMINAL} then return 0 end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
redis.call('HSET', KEYS[1], 'status', 'WAIT', 'error_message', ARGV[2])
redis.call('HINCRBY', KEYS[3], 'fn|' .. redis.call('HGET', KEYS[1], 'urn') .. '|retries', 1)
redis.call('RPUSH', KEYS[2], cjson.encode({{status='WAIT', at=tonumber(ARGV[1]),
  attempt=attempts, note=ARGV[3]}}))
return 1
"""

# KEYS: record, history, deliveries, active, deadlines, outbox, stats
# ARGV: request_id, status, now, condition, error_code, error_message, event, destination,
#       retention, note, outcome, delivery state
# Only the first terminal transition wins; its caller alone hands the event on. The same call
# sent again (its reply lost in a failover, the client retried) is answered as the winner.
FINISH: Final = f"""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if {_TERMINAL} then
  if status == ARGV[2] and redis.call('HGET', KEYS[1], 'ended_at') == ARGV[3] then return 1 end
  return 0
end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'ended_at', ARGV[3], 'condition', ARGV[4],
  'error_code', ARGV[5], 'error_message', ARGV[6])
redis.call('RPUSH', KEYS[2], cjson.encode({{status=ARGV[2], at=tonumber(ARGV[3]),
  attempt=attempts, note=ARGV[10]}}))
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'event', ARGV[7]) end
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'dest', ARGV[8], 'outcome', ARGV[11])
  redis.call('HSET', KEYS[3], ARGV[11], ARGV[12])
  redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
end
redis.call('HINCRBY', KEYS[7], 'invocations.' .. string.lower(ARGV[2]), 1)
redis.call('HINCRBY', KEYS[7], 'fn|' .. redis.call('HGET', KEYS[1], 'urn') .. '|' ..
  string.lower(ARGV[2]), 1)
local ttl = tonumber(ARGV[9])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
return 1
"""


# -- invocation control: idempotent acceptance, delayed start, children -----------------------
# Kept apart from CREATE, which stays the plain path (a fresh random id, no delay, no parent).

# KEYS: record, history, index, active, deadlines, stats, due, children of the origin,
#       record of the redriven original
# ARGV: request_id, urn, enqueued_at, deadline, chain, payload, origin, transition, due_at,
#       redrive_of, redrive number, children ttl, traceparent
# An existing id answers {0, status, attempts, urn} for the same function and payload, and
# {-1, status, attempts, urn} for another one; nothing is written then.
ACCEPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local s = redis.call('HMGET', KEYS[1], 'urn', 'payload', 'status', 'attempts')
  local same = (s[1] == ARGV[2] and s[2] == ARGV[6]) and 0 or -1
  return {same, s[3] or 'WAIT', s[4] or '0', s[1] or ''}
end
redis.call('HSET', KEYS[1], 'urn', ARGV[2], 'status', 'WAIT', 'attempts', 0, 'claimed', -1,
  'crashes', 0, 'enqueued_at', ARGV[3], 'deadline', ARGV[4], 'chain', ARGV[5],
  'payload', ARGV[6], 'origin', ARGV[7], 'traceparent', ARGV[13] or '')
redis.call('RPUSH', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
-- the in-flight index orders a delayed invocation by its due time: it waits from then
redis.call('ZADD', KEYS[4], ARGV[9] ~= '' and ARGV[9] or ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'due_at', ARGV[9])
  redis.call('ZADD', KEYS[7], ARGV[9], ARGV[1])
end
if ARGV[7] ~= '' then
  redis.call('SADD', KEYS[8], ARGV[1])
  redis.call('EXPIRE', KEYS[8], tonumber(ARGV[12]))
end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'redrive_of', ARGV[10])
  local n = tonumber(redis.call('HGET', KEYS[9], 'redrives') or '0')
  if n < tonumber(ARGV[11]) then redis.call('HSET', KEYS[9], 'redrives', ARGV[11]) end
end
redis.call('HINCRBY', KEYS[6], 'fn|' .. ARGV[2] .. '|accepted', 1)
return {1, 'WAIT', '0', ARGV[2]}
"""

# KEYS: due; ARGV: now, count
# Takes the invocations that are due off the index, so one caller alone publishes each.
TAKE_DUE: Final = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
"""


# -- fused scripts -------------------------------------------------------------------------------
# Each runs the scripts above unchanged, as Lua functions whose parameters KEYS and ARGV shadow
# the globals, and adds the broker writes; so an edit of a transition above needs no edit here.
# Extra keys and arguments come after the wrapped script's own and are read from the end.


def _wrapped(name: str, body: str) -> str:
    return f"local function {name}(KEYS, ARGV)\n{body}\nend\n"


# Slices ``t[from..from+count-1]``; the wrapped scripts' key and argument counts come first.
_SLICE = """
local function slice(t, from, count)
  local out = {}
  for i = 1, count do out[i] = t[from + i - 1] end
  return out
end
"""

# Queue the message (and its task-sent event) when CREATE made the record, or found one still
# WAIT with no attempt whose message may never have been published.
_QUEUE = """
local function queue_message(created, queue, message, channel, event)
  if created[1] == 1 or (created[2] == 'WAIT' and tonumber(created[3]) == 0) then
    redis.call('LPUSH', queue, message)
    if event ~= '' then redis.call('PUBLISH', channel, event) end
  end
end
"""

# KEYS: CREATE's keys, queue
# ARGV: CREATE's key count, CREATE's argument count, CREATE's arguments, message, channel, event
# The record and its message are written together or not at all.
ENQUEUE: Final = (
    _wrapped("create", CREATE)
    + _SLICE
    + _QUEUE
    + """
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local created = create(slice(KEYS, 1, nk), slice(ARGV, 3, na))
queue_message(created, KEYS[nk + 1], ARGV[na + 3], ARGV[na + 4], ARGV[na + 5])
return created
"""
)

# KEYS: ACCEPT's keys, queue
# ARGV: ACCEPT's key count, ACCEPT's argument count, ACCEPT's arguments, message, channel, event
# The message is queued only with a new record (not for an id that exists, nor a delayed one).
ENQUEUE_ACCEPT: Final = (
    _wrapped("accept", ACCEPT)
    + _SLICE
    + """
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local accepted = accept(slice(KEYS, 1, nk), slice(ARGV, 3, na))
if accepted[1] == 1 and ARGV[3 + 8] == '' then
  redis.call('LPUSH', KEYS[nk + 1], ARGV[na + 3])
  if ARGV[na + 5] ~= '' then redis.call('PUBLISH', ARGV[na + 4], ARGV[na + 5]) end
end
return accepted
"""
)

# KEYS: FINISH's keys (source), ACCEPT's keys (target), queue, source deliveries, outbox, stats
# ARGV: FINISH's key count, argument count, ACCEPT's key count, argument count, FINISH's
#       arguments, ACCEPT's arguments, message, channel, event, source id, outcome,
#       delivered state, delivered counter
# The source's terminal transition, the target's record, its message and the source's delivery
# record as delivered: all in one step, so a redelivered or crashed source makes one target.
# A target that exists already (an earlier attempt made it another way) writes nothing and
# answers -1: the caller takes the usual way, which knows what to do with it.
HOP: Final = (
    _wrapped("finish", FINISH)
    + _wrapped("accept", ACCEPT)
    + _SLICE
    + """
local fk, fa, ck, ca = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[fk + 1]) == 1 then return -1 end
if finish(slice(KEYS, 1, fk), slice(ARGV, 5, fa)) == 0 then return 0 end
local accepted = accept(slice(KEYS, fk + 1, ck), slice(ARGV, fa + 5, ca))
local k, a = fk + ck, fa + ca + 4
if accepted[1] == 1 then
  redis.call('LPUSH', KEYS[k + 1], ARGV[a + 1])
  if ARGV[a + 3] ~= '' then redis.call('PUBLISH', ARGV[a + 2], ARGV[a + 3]) end
end
redis.call('HSET', KEYS[k + 2], ARGV[a + 5], ARGV[a + 6])
redis.call('ZREM', KEYS[k + 3], ARGV[a + 4])
redis.call('HINCRBY', KEYS[k + 4], ARGV[a + 7], 1)
return 1
"""
)

# KEYS, ARGV: CLAIM's. A 'run' answer carries the payload too: messages are queued without it
# and find it in the record, where it is kept once.
CLAIM_PAYLOAD: Final = (
    _wrapped("claim", CLAIM)
    + """
local answer = claim(KEYS, ARGV)
if answer[1] == 'run' then
  answer[4] = redis.call('HGET', KEYS[1], 'payload') or 'null'
end
return answer
"""
)
