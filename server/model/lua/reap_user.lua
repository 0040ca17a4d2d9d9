-- The step of a reap, on a Redis Cluster, on the user's slot: ends the user's
-- session if it is on the node reaped (and, given a run prefix, of an earlier
-- run). Atomic, so of several nodes reaping at once exactly one gets the user.
-- Returns {'gone', the session} if it ended it, {'none', ''} if the user has no
-- session (an earlier reap was cut short), {'stale', ''} if the session is
-- elsewhere (the node's set is out of date), {'kept', ''} otherwise.
--
-- KEYS[1] the user's session. ARGV: the node, the run prefix ('' to reap).
local node, run = ARGV[1], ARGV[2]
local cur = redis.call('GET', KEYS[1])
if not cur then return {'none', ''} end
local curNode, sid = string.match(cur, '^(%S+) (%S+)')
if curNode ~= node then return {'stale', ''} end
if run ~= '' and string.sub(sid, 1, #run) == run then return {'kept', ''} end
redis.call('DEL', KEYS[1])
return {'gone', cur}
