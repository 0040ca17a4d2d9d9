-- Adds a member to a room. Its cursor starts at the room's newest message: a new
-- member gets what is said from now on (and may read the history).
--
-- KEYS: 1 the room's hash, 2 its members, 3 the user's rooms, 4 the room's stream
-- ARGV: 1 room id, 2 user id, 3 members per room at most, 4 rooms per user at most
-- Returns {code, name, cursor}: 200, 404 no such room, 409 already a member,
-- 429 the room is full (name 'room') or the user has too many rooms.
local name = redis.call('HGET', KEYS[1], 'n')
if not name then return {404, '', ''} end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {409, name, ''} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {429, name, 'room'} end
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[4]) then return {429, name, 'user'} end
local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
local cursor = '0-0'
if #last > 0 then cursor = last[1][1] end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], cursor)
return {200, name, cursor}
