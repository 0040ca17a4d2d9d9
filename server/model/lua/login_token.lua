-- A session-token login in one step: login_reserve.lua, the token's check, and
-- login_release.lua if the token is right. Atomic, so a right token leaves the
-- counts as they were and a wrong one is counted before any later guess is
-- checked: parallel guesses cannot outrun the counts.
-- Returns the account's JSON (the token is right), 0 (a count is at its limit:
-- nothing counted, the token unchecked) or 1 (a wrong token, or the account is
-- gone: counted).
--
-- KEYS: the token's key, the account (the hash of all users, or the user's key),
-- then the counters (user id and address, user id, and on a single Redis the
-- address). ARGV: the account's field in the hash of all users ("" for a user's
-- key), the window in milliseconds, then each counter's limit (0: not counted).
-- The first two counters are counted on a wrong token; the address's only
-- checked (login_fail.lua counts it).
local field, window = ARGV[1], tonumber(ARGV[2])
for i = 3, #KEYS do
  local limit = tonumber(ARGV[i])
  if limit > 0 and (tonumber(redis.call('GET', KEYS[i])) or 0) >= limit then return 0 end
end
local account = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  if field == '' then
    account = redis.call('GET', KEYS[2])
  else
    account = redis.call('HGET', KEYS[2], field)
  end
end
if account then return account end
for i = 3, 4 do
  if tonumber(ARGV[i]) > 0 and redis.call('INCR', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return 1
