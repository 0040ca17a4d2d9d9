-- Moves a member's cursors forward to the room messages it acknowledged; a cursor
-- never goes back, and a room the user has left is not touched.
--
-- KEYS: 1 the user's rooms
-- ARGV: room id, message id, room id, message id, ...
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local cm, cs = parse(cur)
    local nm, ns = parse(ARGV[i + 1])
    if nm and cm and (nm > cm or (nm == cm and ns > cs)) then
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
  end
end
return 0
