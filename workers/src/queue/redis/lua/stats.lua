-- The depth of one lane: stream length, entries in flight, delayed
-- retries, dead letters, and when the oldest waiting entry was enqueued.
-- KEYS: stream, delayed, dead.
-- ARGV: group.
local len = redis.call('XLEN', KEYS[1])
local delayed = redis.call('ZCARD', KEYS[2])
local dead = redis.call('XLEN', KEYS[3])
local after, pending = '-', 0
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == ARGV[1] then
      after = '(' .. info['last-delivered-id']
      pending = info['pending']
    end
  end
end
local oldest = ''
if len > pending then
  local r = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 1)
  if #r > 0 then
    local fields = r[1][2]
    for i = 1, #fields, 2 do if fields[i] == 'e' then oldest = fields[i + 1] end end
  end
end
return {len, pending, delayed, dead, oldest}
