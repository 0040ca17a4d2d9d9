-- Takes a member out of a room: the member itself (leave) or the owner (kick).
-- When the owner leaves, the member with the lowest id becomes the owner; when the
-- last member leaves, the room and its messages are deleted.
--
-- KEYS: 1 the room's hash, 2 its members, 3 the target's rooms, 4 the room's
--       stream, 5 users
-- ARGV: 1 room id, 2 actor id, 3 target id
-- Returns {code, room name, target's name}: 200, 404 no such room, 403 the actor
-- is not the owner (kick) or the target is not a member.
local room = redis.call('HMGET', KEYS[1], 'n', 'o')
local name, owner = room[1], room[2]
if not name then return {404, '', ''} end
if ARGV[2] ~= ARGV[3] and owner ~= ARGV[2] then return {403, name, ''} end
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then return {403, name, ''} end
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
elseif owner == ARGV[3] then
  redis.call('HSET', KEYS[1], 'o', redis.call('ZRANGE', KEYS[2], 0, 0)[1])
end
local who = ''
local account = redis.call('HGET', KEYS[5], ARGV[3])
if account then
  local ok, user = pcall(cjson.decode, account)
  if ok and type(user) == 'table' and type(user.userName) == 'string' then who = user.userName end
end
return {200, name, who}
