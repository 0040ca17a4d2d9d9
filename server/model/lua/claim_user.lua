-- The step of a claim, on a Redis Cluster, on the user's slot: makes a session
-- the user's only one, atomically with reading the one it replaces and the
-- newest message waiting. Returns {the previous session or '', newest inbox id
-- or '', '1' if the user is in a room}.
--
-- KEYS[1] the user's session, KEYS[2] its inbox, KEYS[3] its rooms. ARGV: the
-- session value.
local old = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[1])
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local lastId = ''
if #last > 0 then lastId = last[1][1] end
return {old, lastId, tostring(redis.call('EXISTS', KEYS[3]))}
