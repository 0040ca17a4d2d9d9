-- One rate limit, shared by every node: the generic cell rate algorithm (GCRA).
-- The key holds the theoretical arrival time (TAT, Redis's clock, milliseconds)
-- of the next event; an event is allowed while TAT - burst * interval <= now,
-- and moves TAT on by one interval. Bursts of `burst` events, then one event an
-- interval. The key expires once TAT has passed: an idle limit costs nothing.
-- Returns 1 (allowed, counted) or 0 (refused, not counted).
--
-- KEYS[1] the limit's key. ARGV: the interval in milliseconds, the burst.
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
if tat + interval - burst * interval > now then return 0 end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
return 1
