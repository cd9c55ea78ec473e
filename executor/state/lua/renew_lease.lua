-- RENEW_LEASE: extend the running claim of a runner; a claim taken over or ended is left alone.
--
-- KEYS  1 record
-- ARGV  1 runner   2 lease end
if redis.call('HGET', KEYS[1], 'runner') == ARGV[1]
   and redis.call('HGET', KEYS[1], 'status') == 'RUNNING' then
  redis.call('HSET', KEYS[1], 'lease', ARGV[2])
  return 1
end
return 0
