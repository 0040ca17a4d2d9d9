-- The room's step of a create or a join, on a Redis Cluster, on the room's
-- slot. Create (ARGV[5] '1'): makes the room, with its creator as owner and
-- first member. Join: adds a member, unless the room is gone or full, or has it
-- already. Either way, returns {code, name, cursor}: 200, 404 no such room, 409
-- already a member, 429 full; the cursor is the room's newest message ('0-0'
-- for none), where a new member starts.
--
-- KEYS: 1 the room's hash, 2 its members, 3 its stream.
-- ARGV: 1 room id, 2 user id, 3 members per room at most, 4 name, 5 '1' to create.
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'n', ARGV[4], 'o', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
  return {200, ARGV[4], '0-0'}
end
local name = redis.call('HGET', KEYS[1], 'n')
if not name then return {404, '', ''} end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local cursor = '0-0'
if #last > 0 then cursor = last[1][1] end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {409, name, cursor} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {429, name, cursor} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
return {200, name, cursor}
