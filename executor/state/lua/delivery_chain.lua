-- DELIVERY_CHAIN: the one chain of attempts allowed to deliver an event.
--
-- KEYS  1 chain of the event (<request_id>:<outcome>)
-- ARGV  1 mode   2 token   3 now   4 until when the next attempt is due   5 ttl (seconds)
--       6 first attempt time to record if none is
--
-- The chain key holds the token of the chain allowed to attempt, until when its next attempt is
-- due, and when the first attempt was made (which fixes the delivery deadline).
--   attempt  go on if no other chain holds the token; a chain whose token was replaced stops
--   resend   start a new chain only if the holder's next attempt is overdue
--   reset    start a new chain with a new deadline (a dead letter sent again)
-- Answers {1 or 0, first attempt time}.
local held = redis.call('HMGET', KEYS[1], 'token', 'until', 'first_at')
local first = held[3] or ARGV[6]
if ARGV[1] == 'attempt' then
  if held[1] and held[1] ~= ARGV[2] then return {0, first} end
elseif ARGV[1] == 'resend' then
  if held[2] and tonumber(held[2]) > tonumber(ARGV[3]) then return {0, first} end
else
  first = ARGV[3]
end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'until', ARGV[4], 'first_at', first)
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, first}
