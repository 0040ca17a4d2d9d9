-- Counts a failed login on each of KEYS (the counters login_reserve.lua only
-- checks), a window starting at a counter's first failure.
--
-- ARGV: the window in milliseconds.
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 1
