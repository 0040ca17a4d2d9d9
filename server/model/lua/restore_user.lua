-- The step of a restore, on a Redis Cluster, on the user's slot: puts back a
-- session the node still holds, as restore.lua does: 2 if it put it back, 1 if
-- it was still there, 0 if a newer session of the user exists elsewhere.
--
-- KEYS[1] the user's session. ARGV: the session value.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if cur then return 1 end
return 2
