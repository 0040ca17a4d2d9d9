-- Forgets delivered messages of one or more inboxes, one call for many: a call
-- costs Redis more than the XDEL it runs. An inbox left empty expires a little
-- later (send.lua makes it persistent again with its next message): a stream
-- created anew numbers its ids from Redis's clock, and waiting until that clock
-- has moved on keeps a new message's id above every id a live session has seen.
-- Returns the errors of the inboxes that could not be changed, one each: an
-- inbox that is not a stream does not hold up the others.
--
-- KEYS: the inboxes. ARGV: how long an empty inbox lives, in milliseconds, then
-- per inbox, in the order of KEYS, the number of its ids and those ids.
local failed, a = {}, 2
for _, inbox in ipairs(KEYS) do
  local n = tonumber(ARGV[a])
  local removed = redis.pcall('XDEL', inbox, unpack(ARGV, a + 1, a + n))
  a = a + 1 + n
  if type(removed) == 'table' and removed.err then
    failed[#failed + 1] = removed.err
  elseif redis.call('XLEN', inbox) == 0 then
    -- PEXPIRE of a key that is gone (XDEL of its last entry keeps it; a key
    -- that never was is 0 long too) changes nothing.
    redis.call('PEXPIRE', inbox, ARGV[1])
  end
end
return failed
