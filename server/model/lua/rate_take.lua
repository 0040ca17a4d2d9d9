-- Gives back ARGV[4] events taken before that did not happen after all (their
-- messages were not kept), then takes up to ARGV[3] events at once from a rate
-- limit (rate.lua's GCRA) and returns how many it allowed: the first ones, as
-- many as the limit lets through now.
--
-- KEYS[1] the limit's key. ARGV: the interval in milliseconds, the burst, how
-- many to take, how many to give back.
local interval, burst, n, back = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local cur = tonumber(redis.call('GET', KEYS[1]))
local tat = math.max(cur or now, now)
if back > 0 then tat = math.max(tat - back * interval, now) end
local k = 0
while k < n and tat + interval - burst * interval <= now do
  tat = tat + interval
  k = k + 1
end
if tat > now then
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
elseif cur then
  redis.call('DEL', KEYS[1])
end
return k
