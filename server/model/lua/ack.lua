-- Forgets delivered messages of one inbox. An inbox left empty expires a little
-- later (send.lua makes it persistent again with its next message): a stream
-- created anew numbers its ids from Redis's clock, and waiting until that clock
-- has moved on keeps a new message's id above every id a live session has seen.
-- Returns the number of messages removed.
--
-- Acks mostly name the oldest messages of the inbox, in order: then one XTRIM
-- removes them, for a twentieth of what XDEL costs, which looks each id up from
-- the start of its stream node. The ids are checked to be exactly the inbox's
-- oldest first, so that nothing unacknowledged goes.
--
-- KEYS[1] the inbox. ARGV: how long an empty inbox lives, in milliseconds, then
-- the message ids, in increasing order, each once.
local n = #ARGV - 1
local newest = ARGV[n + 1]
local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n + 1)
local prefix = #head >= n
for i = 1, n do
  if not prefix then break end
  prefix = head[i][1] == ARGV[i + 1]
end
local removed, empty
if prefix then
  local ms, seq = string.match(newest, '^(%d+)-(%d+)$')
  removed = redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
  empty = #head == n
else
  removed = redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
  empty = redis.call('XLEN', KEYS[1]) == 0
end
if empty and removed > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return removed
