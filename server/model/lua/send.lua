-- Checks the recipient, applies the clientMsgId dedup, appends the message and
-- reads where the recipient is: one round trip, atomic. Returns {status, message
-- id, recipient's session or '', previous newest id or ''}: status 0 no such
-- user, 1 kept, 2 a repeated clientMsgId (the id is the first send's).
--
-- KEYS[1] users hash, KEYS[2] sessions hash, KEYS[3] the recipient's inbox,
-- KEYS[4] (only with a clientMsgId) the sender's dedup key for it.
-- ARGV: recipient id, sender id, sender name, content, dedup TTL in milliseconds.
local to, from, name, content, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local dkey = KEYS[4]
if redis.call('HEXISTS', KEYS[1], to) == 0 then return {0, '', '', ''} end
local where = redis.call('HGET', KEYS[2], to) or ''
if dkey then
  local first = redis.call('GET', dkey)
  if first then return {2, first, where, ''} end
end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
local id = redis.call('XADD', KEYS[3], '*', 'f', from, 'n', name, 'c', content)
if dkey then redis.call('SET', dkey, id, 'PX', ttl) end
return {1, id, where, prev}
