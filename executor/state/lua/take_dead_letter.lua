-- TAKE_DEAD_LETTER: remove a dead-lettered event and answer it, so two callers sending it
-- again at once queue it once; nil when another caller took it first.
--
-- KEYS  1 dead letters (hash by identity)   2 their index by time
-- ARGV  1 identity
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if entry then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return entry
