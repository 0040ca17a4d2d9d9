-- Makes a session the user's only one, atomically with reading what the login
-- answers with, so that two logins of one user cannot both win.
--
-- KEYS[1] sessions hash, KEYS[2] online set, KEYS[3] this node's users,
-- KEYS[4] the users of node ARGV[4], KEYS[5] the user's inbox, KEYS[6] the
-- user's rooms.
-- ARGV: user id, this node, the session value, the node the caller expects the
-- user's previous session on.
--
-- The previous session's node is only known once it is read here, and every key
-- must be named by the caller: when the previous session is on a node other than
-- this one and ARGV[4], nothing is changed and {previous, -1, '', 0} tells the
-- caller which node's set to pass in a new call.
-- Returns {previous session or '', online count, newest inbox id or '', 1 if
-- the user is in a room}.
local uid, node, value, expected = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', KEYS[1], uid)
local oldNode = old and string.match(old, '^(%S+)')
if oldNode and oldNode ~= node and oldNode ~= expected then
  return {old, -1, '', 0}
end
redis.call('HSET', KEYS[1], uid, value)
redis.call('ZADD', KEYS[2], uid, uid)
redis.call('SADD', KEYS[3], uid)
if oldNode and oldNode ~= node then redis.call('SREM', KEYS[4], uid) end
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local lastId = ''
if #last > 0 then lastId = last[1][1] end
return {old or '', redis.call('ZCARD', KEYS[2]), lastId, redis.call('EXISTS', KEYS[6])}
