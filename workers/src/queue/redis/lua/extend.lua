-- Extends the lease holding the entry (with the rest of its batch).
-- KEYS: stream, leases.
-- ARGV: group, token, entry id, new deadline.
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[2])
return 1
