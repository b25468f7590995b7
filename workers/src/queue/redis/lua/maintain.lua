-- Moves due delayed retries back to the stream, takes over entries of
-- expired leases for the new lease and, if retries came back, reads them
-- (at most `room` entries in all). Returns the entries with their delivery
-- counts.
-- KEYS: stream, delayed, leases, split.
-- ARGV: now, room, deadline, token, group, move batch.
local now, room, group, token = ARGV[1], tonumber(ARGV[2]), ARGV[5], ARGV[4]
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, m in ipairs(due) do
  local j = cjson.decode(m)
  redis.call('XADD', KEYS[1], '*', 'k', j.k, 'p', j.p, 'e', j.e, 'n', j.n, 'f', j.f, 'r', j.r)
  redis.call('ZREM', KEYS[2], m)
end
local out = {}
if room <= 0 then return out end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now, 'LIMIT', 0, 16)
for _, holder in ipairs(expired) do
  if #out >= room then break end
  local pending = redis.call('XPENDING', KEYS[1], group, '-', '+', math.min(room - #out, 1000), holder)
  if #pending > 0 then
    local ids, counts = {}, {}
    for _, p in ipairs(pending) do
      table.insert(ids, p[1])
      counts[p[1]] = p[4]
    end
    for _, e in ipairs(redis.call('XCLAIM', KEYS[1], group, token, 0, unpack(ids))) do
      if e and e[2] then table.insert(out, {e[1], e[2], counts[e[1]] + 1}) end
    end
  end
  -- A holder left with entries lost some: its acks must take the checked path.
  redis.call('SADD', KEYS[4], holder)
  forget_if_empty(KEYS[1], KEYS[3], KEYS[4], group, holder)
end
if #due > 0 and #out < room then
  local r = redis.call('XREADGROUP', 'GROUP', group, token, 'COUNT', room - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do table.insert(out, {e[1], e[2], 1}) end
  end
end
if #out > 0 then redis.call('ZADD', KEYS[3], ARGV[3], token) end
return out
