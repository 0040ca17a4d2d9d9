-- Creates a room whose owner and first member is its creator, unless the creator
-- is in as many rooms as allowed already.
--
-- KEYS: 1 the room's hash, 2 its members, 3 the creator's rooms
-- ARGV: 1 room id, 2 creator id, 3 name, 4 rooms per user at most
-- Returns 200, or 429 when the creator has too many rooms.
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[4]) then return 429 end
redis.call('HSET', KEYS[1], 'n', ARGV[3], 'o', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], '0-0')
return 200
