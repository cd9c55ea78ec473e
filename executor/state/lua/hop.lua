-- HOP: FINISH of the source and, for the caller that wins it, ACCEPT of the invocation its
-- FunctionGraph destination starts (with that invocation's message) and the source's delivery
-- recorded delivered: all in one step, so a redelivered or crashed source makes one target.
-- Runs with the functions finish(KEYS, ARGV) and accept(KEYS, ARGV) of finish.lua and
-- accept.lua, each given its own slice of the keys and arguments.
--
-- KEYS  FINISH's keys, then ACCEPT's keys
-- ARGV  1 count of FINISH's keys   2 count of FINISH's arguments
--       3 count of ACCEPT's keys   4 count of ACCEPT's arguments
--       then FINISH's arguments, ACCEPT's arguments, and last
--       the delivered state (JSON) and the counter of the delivery
--
-- Answers 1 for the winner; 0, writing nothing, if the source had ended already; -1, writing
-- nothing, if the target exists already (an earlier attempt made it another way: the caller
-- takes the usual way, which knows what to do with it).
local function slice(t, from, count)
  local out = {}
  for i = 1, count do out[i] = t[from + i - 1] end
  return out
end
local finish_keys, finish_args = tonumber(ARGV[1]), tonumber(ARGV[2])
local accept_keys, accept_args = tonumber(ARGV[3]), tonumber(ARGV[4])
local fkeys = slice(KEYS, 1, finish_keys)
local fargs = slice(ARGV, 5, finish_args)
local akeys = slice(KEYS, finish_keys + 1, accept_keys)
local aargs = slice(ARGV, 5 + finish_args, accept_args)
local delivered = ARGV[5 + finish_args + accept_args]
local counter = ARGV[6 + finish_args + accept_args]
if redis.call('EXISTS', akeys[1]) == 1 then return -1 end
if finish(fkeys, fargs) == 0 then return 0 end
accept(akeys, aargs)
-- the source's deliveries, outbox and counters are FINISH's keys 3, 6 and 7
redis.call('HSET', fkeys[3], fargs[11], delivered)
redis.call('ZREM', fkeys[6], fargs[1])
redis.call('HINCRBY', fkeys[7], counter, 1)
return 1
