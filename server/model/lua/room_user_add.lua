-- The user's step of a create or a join, on a Redis Cluster, on the user's
-- slot: lists the room among the user's rooms with its cursor, unless the user
-- is in as many rooms as allowed. A room listed already keeps its cursor (a
-- join retried after a crash between its steps). Returns 200, or 429.
--
-- KEYS: 1 the user's rooms. ARGV: 1 room id, 2 cursor, 3 rooms per user at most.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 200 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 429 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 200
