-- The user's step of a leave or a kick, on a Redis Cluster, on the user's slot:
-- takes the room out of the user's rooms and returns the user's name, from the
-- account ('' if it has none).
--
-- KEYS: 1 the user's rooms, 2 the user's account. ARGV: 1 room id.
redis.call('HDEL', KEYS[1], ARGV[1])
local account = redis.call('GET', KEYS[2])
if account then
  local ok, user = pcall(cjson.decode, account)
  if ok and type(user) == 'table' and type(user.userName) == 'string' then return user.userName end
end
return ''
