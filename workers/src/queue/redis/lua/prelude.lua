-- Shared by the scripts that change leases (prepended to each): once a
-- lease holds no entry, its record and its consumer go.
local function forget_if_empty(stream, leases, split, group, holder)
  if #redis.call('XPENDING', stream, group, '-', '+', 1, holder) == 0 then
    redis.call('ZREM', leases, holder)
    redis.call('SREM', split, holder)
    redis.call('XGROUP', 'DELCONSUMER', stream, group, holder)
  end
end
