-- Reserves a failed login before the password (or token) is checked: if no
-- counter has reached its limit, the first ARGV[2] counters are incremented,
-- atomically, so that parallel guesses cannot all pass the check before any is
-- counted. A login that succeeds gives its reservation back (login_release.lua).
-- The counters after those are only checked here: they count failures once
-- known (login_fail.lua), so that many users logging in at once from one address
-- (a NAT) do not count as failures while their passwords are being checked. A
-- window starts at a counter's first failure. Returns 1 (reserved) or 0 (a limit
-- is reached).
--
-- KEYS: the counters (user id and address, user id, address).
-- ARGV: the window in milliseconds, how many counters to reserve on, then each
-- key's limit (0: not counted).
local window, reserved = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 2])
  if limit > 0 and (tonumber(redis.call('GET', key)) or 0) >= limit then return 0 end
end
for i = 1, reserved do
  if tonumber(ARGV[i + 2]) > 0 and redis.call('INCR', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return 1
