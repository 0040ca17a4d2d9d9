-- Ends a session only if it is still the user's current one, so that a replaced
-- session going away does not take its successor offline. Returns the online
-- count after, or -1 if the session was not current.
--
-- KEYS[1] sessions hash, KEYS[2] online set, KEYS[3] the session node's users.
-- ARGV: user id, the session's node, the session id.
local uid, node, sid = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', KEYS[1], uid)
if not cur or string.match(cur, '^(%S+ %S+)') ~= node .. ' ' .. sid then return -1 end
redis.call('HDEL', KEYS[1], uid)
redis.call('ZREM', KEYS[2], uid)
redis.call('SREM', KEYS[3], uid)
return redis.call('ZCARD', KEYS[2])
