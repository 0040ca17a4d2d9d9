-- Checks the recipient, applies the clientMsgId dedup, the sender's rate limit
-- and the inbox's cap, appends the message and reads where the recipient is:
-- one round trip, atomic. Returns {status, message id, recipient's session or
-- '', previous newest id or ''}: status 0 no such user, 1 kept, 2 a repeated
-- clientMsgId (the id is the first send's), 3 the sender is over its rate, 4 the
-- inbox is full. Only status 1 changes anything.
--
-- KEYS[1] users hash, KEYS[2] sessions hash, KEYS[3] the recipient's inbox,
-- KEYS[4] the sender's rate limit (rate.lua's GCRA), KEYS[5] (only with a
-- clientMsgId) the sender's dedup key for it.
-- ARGV: recipient id, sender id, sender name, content, dedup TTL in
-- milliseconds, rate interval in milliseconds (0: no limit), rate burst, most
-- messages an inbox holds (0: no cap).
local to, from, name, content, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local interval, burst, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local dkey = KEYS[5]
if redis.call('HEXISTS', KEYS[1], to) == 0 then return {0, '', '', ''} end
local where = redis.call('HGET', KEYS[2], to) or ''
if dkey then
  local first = redis.call('GET', dkey)
  if first then return {2, first, where, ''} end
end
local now, tat
if interval > 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
  tat = math.max(tonumber(redis.call('GET', KEYS[4])) or now, now)
  if tat + interval - burst * interval > now then return {3, '', where, ''} end
end
if cap > 0 and redis.call('XLEN', KEYS[3]) >= cap then return {4, '', where, ''} end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
local id = redis.call('XADD', KEYS[3], '*', 'f', from, 'n', name, 'c', content)
redis.call('PERSIST', KEYS[3]) -- an emptied inbox was set to expire (ack.lua)
if interval > 0 then
  tat = tat + interval
  redis.call('SET', KEYS[4], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
end
if dkey then redis.call('SET', dkey, id, 'PX', ttl) end
return {1, id, where, prev}
