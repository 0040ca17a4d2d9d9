-- Takes offline every user whose session is on a node that stopped beating and
-- forgets the node; or, given a run prefix, the sessions of the node (restarted
-- under its old id) that an earlier run left. Atomic, so of several nodes reaping
-- at once exactly one gets the users. Returns {online count, id1, session1, ...},
-- or {'-1'} if the node still beats.
--
-- KEYS[1] the node's heartbeat, KEYS[2] the node's users, KEYS[3] sessions hash,
-- KEYS[4] online set, KEYS[5] set of nodes. ARGV: the node, the run prefix ('' to reap).
local node, run = ARGV[1], ARGV[2]
if run == '' and redis.call('EXISTS', KEYS[1]) == 1 then return {'-1'} end
local gone = {'0'}
for _, uid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local cur = redis.call('HGET', KEYS[3], uid)
  local curNode, sid = string.match(cur or '', '^(%S+) (%S+)')
  if curNode == node and (run == '' or string.sub(sid, 1, #run) ~= run) then
    redis.call('HDEL', KEYS[3], uid)
    redis.call('ZREM', KEYS[4], uid)
    redis.call('SREM', KEYS[2], uid)
    gone[#gone + 1] = uid
    gone[#gone + 1] = cur
  elseif curNode ~= node then
    redis.call('SREM', KEYS[2], uid)
  end
end
if run == '' then redis.call('SREM', KEYS[5], node) end
gone[1] = tostring(redis.call('ZCARD', KEYS[4]))
return gone
