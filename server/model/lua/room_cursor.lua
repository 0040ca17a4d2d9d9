-- The sender's step of a room message, on a Redis Cluster, on the sender's
-- slot: the sender needs no copy of its own message, so a sender that was
-- caught up (its cursor at the message before) stays so.
--
-- KEYS: 1 the sender's rooms. ARGV: 1 room id, 2 the previous message ('' for
-- none), 3 the message.
local cursor = redis.call('HGET', KEYS[1], ARGV[1])
if cursor and (ARGV[2] == '' or cursor == ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 0
