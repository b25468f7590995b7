-- Acknowledges entries the lease still holds: all of them while the lease
-- is live and whole, else only those its consumer still owns.
-- KEYS: stream, leases, split.
-- ARGV: group, token, now, entry ids...
local group, token = ARGV[1], ARGV[2]
local deadline = redis.call('ZSCORE', KEYS[2], token)
local n
if deadline and tonumber(deadline) >= tonumber(ARGV[3]) and redis.call('SISMEMBER', KEYS[3], token) == 0 then
  n = redis.call('XACK', KEYS[1], group, unpack(ARGV, 4))
  redis.call('XDEL', KEYS[1], unpack(ARGV, 4))
else
  local held = {}
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], group, '-', '+', 100000, token)) do held[p[1]] = true end
  local mine = {}
  for i = 4, #ARGV do
    if held[ARGV[i]] then table.insert(mine, ARGV[i]) end
  end
  if #mine == 0 then return 0 end
  n = redis.call('XACK', KEYS[1], group, unpack(mine))
  redis.call('XDEL', KEYS[1], unpack(mine))
end
forget_if_empty(KEYS[1], KEYS[2], KEYS[3], group, token)
return n
