-- FLOW_PASS: the one flow pass of the fleet. The caller holds (or takes, when free) the lease
-- of the pass and reads the functions due by now from the time-ordered index, each with its
-- wake count; any other caller gets nothing and tries again later.
--
-- KEYS  1 the lease   2 the time-ordered index   3 wake counts
-- ARGV  1 caller's token   2 lease in ms   3 now   4 how many at most
-- Answers false while another holds the lease, else {urn, wake count, urn, wake count, ...}.
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
local answer = {}
for _, urn in ipairs(due) do
  answer[#answer + 1] = urn
  answer[#answer + 1] = redis.call('HGET', KEYS[3], urn) or '0'
end
return answer
