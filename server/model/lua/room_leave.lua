-- The room's step of a leave or a kick, on a Redis Cluster, on the room's slot:
-- as room_remove.lua, without the target's rooms and account, on other slots.
-- Returns {code, room name}: 200, 404 no such room, 403 the actor is not the
-- owner (kick), 410 the target is not a member.
--
-- KEYS: 1 the room's hash, 2 its members, 3 its stream.
-- ARGV: 1 room id, 2 actor id, 3 target id.
local room = redis.call('HMGET', KEYS[1], 'n', 'o')
local name, owner = room[1], room[2]
if not name then return {404, ''} end
if ARGV[2] ~= ARGV[3] and owner ~= ARGV[2] then return {403, name} end
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then return {410, name} end
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
elseif owner == ARGV[3] then
  redis.call('HSET', KEYS[1], 'o', redis.call('ZRANGE', KEYS[2], 0, 0)[1])
end
return {200, name}
