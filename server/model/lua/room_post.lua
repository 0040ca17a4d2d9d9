-- The room's step of a room message, on a Redis Cluster, on the room's slot: as
-- room_send.lua, with the sender's rate taken before (rate_take.lua, on the
-- sender's slot) and its cursor moved after (room_cursor.lua).
--
-- KEYS: 1 the room's hash, 2 its members, 3 its stream, 4 the dedup key (read
--       only if ARGV[5] is '1')
-- ARGV: 1 room id, 2 from, 3 from's name, 4 content, 5 dedup '1'/'0',
--       6 dedup ttl (ms), 7 cap (messages), 8 history age (ms), 9 slack of its
--       TTL (ms), 10 '1' if the rate allows it
-- Returns {status, id, previous, room name}, as room_send.lua.
local name = redis.call('HGET', KEYS[1], 'n')
if not name then return {404, '', '', ''} end
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {403, '', '', name} end
if ARGV[5] == '1' then
  local first = redis.call('GET', KEYS[4])
  if first then return {2, first, '', name} end
end
if ARGV[10] ~= '1' then return {429, '', '', name} end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'f', ARGV[2], 'n', ARGV[3], 'c', ARGV[4])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[8]) then
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[8]) + tonumber(ARGV[9]))
end
if ARGV[5] == '1' then redis.call('SET', KEYS[4], id, 'PX', ARGV[6]) end
return {1, id, prev, name}
