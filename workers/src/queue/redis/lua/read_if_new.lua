-- Reads new entries for a lane that was empty last time, only if the stream
-- has entries past the group's last delivered one: an empty lane costs no
-- write (no consumer, no lease). Also says whether a retry is due or a
-- lease has expired.
-- KEYS: stream, delayed, leases.
-- ARGV: now, room, deadline, token, group.
local now, room, deadline, token, group = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local flag = 0
if #redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1) > 0
  or #redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now, 'LIMIT', 0, 1) > 0 then
  flag = 1
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #newest == 0 then return {flag, {}} end
local delivered = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == group then delivered = info['last-delivered-id'] end
end
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local nms, nseq = parts(newest[1][1])
local dms, dseq = parts(delivered)
if nms < dms or (nms == dms and nseq <= dseq) then return {flag, {}} end
local r = redis.call('XREADGROUP', 'GROUP', group, token, 'COUNT', room, 'STREAMS', KEYS[1], '>')
if not r or #r[1][2] == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, token)
  return {flag, {}}
end
redis.call('ZADD', KEYS[3], deadline, token)
return {flag, r[1][2]}
