-- Gives back the reservation of a login that succeeded (login_reserve.lua). A
-- counter that expired meanwhile stays gone: a decrement would recreate it
-- without a TTL.
--
-- KEYS: the counters. ARGV: each key's limit (0: not counted).
for i, key in ipairs(KEYS) do
  if tonumber(ARGV[i]) > 0 and (tonumber(redis.call('GET', key)) or 0) > 0 then
    redis.call('DECR', key)
  end
end
return 1
