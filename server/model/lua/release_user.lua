-- The step of a release, on a Redis Cluster, on the user's slot: ends a session
-- only if it is still the user's current one. Returns 1 if it did, else 0.
--
-- KEYS[1] the user's session. ARGV: the session's node, the session id.
local cur = redis.call('GET', KEYS[1])
if not cur or string.match(cur, '^(%S+ %S+)') ~= ARGV[1] .. ' ' .. ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
