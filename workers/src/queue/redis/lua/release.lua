-- Hands entries the lease still owns to a new, already expired lease with
-- their delivery count lowered by one, so the next fetch takes them over
-- without spending an attempt.
-- KEYS: stream, leases, split.
-- ARGV: group, token, spare lease, entry ids...
local group, token, spare = ARGV[1], ARGV[2], ARGV[3]
local held = {}
for _, p in ipairs(redis.call('XPENDING', KEYS[1], group, '-', '+', 100000, token)) do held[p[1]] = p[4] end
local moved = 0
for i = 4, #ARGV do
  local count = held[ARGV[i]]
  if count then
    redis.call('XCLAIM', KEYS[1], group, spare, 0, ARGV[i], 'RETRYCOUNT', math.max(count - 1, 0), 'JUSTID')
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('ZADD', KEYS[2], 0, spare)
  redis.call('SADD', KEYS[3], token)
end
forget_if_empty(KEYS[1], KEYS[2], KEYS[3], group, token)
return moved
