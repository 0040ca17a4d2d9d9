-- Puts back a session the node still holds after its heartbeat lapsed (others may
-- have reaped it): 2 if it put it back, 1 if it was still there, 0 if a newer
-- session of the user exists elsewhere and the local one must go.
--
-- KEYS[1] sessions hash, KEYS[2] online set, KEYS[3] the node's users.
-- ARGV: user id, the session value.
local uid, value = ARGV[1], ARGV[2]
local cur = redis.call('HGET', KEYS[1], uid)
if cur and cur ~= value then return 0 end
redis.call('HSET', KEYS[1], uid, value)
redis.call('ZADD', KEYS[2], uid, uid)
redis.call('SADD', KEYS[3], uid)
if cur then return 1 end
return 2
