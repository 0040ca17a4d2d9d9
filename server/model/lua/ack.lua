-- Forgets delivered messages of one inbox. An inbox left empty expires a little
-- later (send.lua makes it persistent again with its next message): a stream
-- created anew numbers its ids from Redis's clock, and waiting until that clock
-- has moved on keeps a new message's id above every id a live session has seen.
-- Returns the number of messages removed.
--
-- KEYS[1] the inbox. ARGV: how long an empty inbox lives, in milliseconds, then
-- the message ids.
local removed = redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
-- PEXPIRE of a key that is gone (XDEL of its last entry keeps it; a key that
-- never was is 0 long too) changes nothing.
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return removed
