-- Records a failed delivery the lease still holds: a delayed retry (its
-- attempt given back when transient) or a dead letter, then the entry goes.
-- KEYS: stream, leases, split, delayed, dead.
-- ARGV: group, token, entry id, mode (retry, transient, dead), now, retry at,
-- error, dead letters kept, oldest dead letter kept (ms).
local group, token, id = ARGV[1], ARGV[2], ARGV[3]
local p = redis.call('XPENDING', KEYS[1], group, id, id, 1, token)
if #p == 0 then return 0 end
local delivered = p[1][4]
local entry = redis.call('XRANGE', KEYS[1], id, id)
local function done()
  redis.call('XACK', KEYS[1], group, id)
  redis.call('XDEL', KEYS[1], id)
  forget_if_empty(KEYS[1], KEYS[2], KEYS[3], group, token)
end
if #entry == 0 then
  done()
  return 0
end
-- The retry or dead letter is written first: a script is not rolled back,
-- so an error here must leave the job where it was.
local h = {n = '0', f = '', r = ''}
local fields = entry[1][2]
for i = 1, #fields, 2 do h[fields[i]] = fields[i + 1] end
local attempts = tonumber(h.n) + delivered
-- A transient failure gives its attempt back.
if ARGV[4] == 'transient' then attempts = math.max(attempts - 1, 0) end
attempts = tostring(attempts)
local first = h.f
if first == '' then first = ARGV[5] end
if ARGV[4] ~= 'dead' then
  local member = cjson.encode({id = id, k = h.k, p = h.p, e = h.e, n = attempts, f = first, r = ARGV[7]})
  redis.call('ZADD', KEYS[4], ARGV[6], member)
else
  -- Dead letters are keyed by the queue's clock (never going backwards), so
  -- retention by age follows the same clock as everything else.
  local ms = tonumber(ARGV[5])
  local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local last_ms = tonumber(string.match(last[1][1], '^(%d+)'))
    if last_ms > ms then ms = last_ms end
  end
  redis.call('XADD', KEYS[5], 'MAXLEN', '=', ARGV[8], ms .. '-*',
    'k', h.k, 'p', h.p, 'e', h.e, 'n', attempts, 'f', first, 'l', ARGV[5], 'r', ARGV[7])
  redis.call('XTRIM', KEYS[5], 'MINID', '=', ARGV[9])
end
done()
return 1
