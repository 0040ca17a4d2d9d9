-- Reserves a failed login before the password (or token) is checked: if no
-- counter has reached its limit, every counter is incremented, atomically, so
-- that parallel guesses cannot all pass the check before any is counted. A login
-- that succeeds gives its reservation back (login_release.lua). A window starts
-- at a counter's first failure. Returns 1 (reserved) or 0 (a limit is reached).
--
-- KEYS: the counters (user id and address, user id, address).
-- ARGV: the window in milliseconds, then each key's limit (0: not counted).
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 and (tonumber(redis.call('GET', key)) or 0) >= limit then return 0 end
end
for i, key in ipairs(KEYS) do
  if tonumber(ARGV[i + 1]) > 0 and redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, window)
  end
end
return 1
