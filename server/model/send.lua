-- Keeps the private messages of one sender's burst, in order, atomically.
-- KEYS: users hash, session hash, then per message its recipient's inbox and
-- its dedup key ('' without a clientMsgId).
-- ARGV: dedup ttl (ms), then per message: recipient id, sender id, sender name, content.
-- Returns per message: status (0 no such user, 1 kept, 2 duplicate), message id,
-- where the recipient is online ('' if not), id of the message before it in the inbox.
local ttl = ARGV[1]
local out = {}
local known, where, last = {}, {}, {}
local n = (#KEYS - 2) / 2
for k = 0, n - 1 do
  local inbox, dkey = KEYS[3 + 2 * k], KEYS[4 + 2 * k]
  local to = ARGV[2 + 4 * k]
  if known[to] == nil then
    known[to] = redis.call('HEXISTS', KEYS[1], to) == 1
    if known[to] then where[to] = redis.call('HGET', KEYS[2], to) or '' end
  end
  local status, id, prev = 0, '', ''
  if known[to] then
    local first = false
    if dkey ~= '' then first = redis.call('GET', dkey) end
    if first then
      status, id = 2, first
    else
      prev = last[inbox]
      if prev == nil then
        local l = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)
        prev = ''
        if #l > 0 then prev = l[1][1] end
      end
      id = redis.call('XADD', inbox, '*', 'f', ARGV[3 + 4 * k], 'n', ARGV[4 + 4 * k], 'c', ARGV[5 + 4 * k])
      last[inbox] = id
      if dkey ~= '' then redis.call('SET', dkey, id, 'PX', ttl) end
      status = 1
    end
  end
  out[#out + 1] = status
  out[#out + 1] = id
  out[#out + 1] = where[to] or ''
  out[#out + 1] = prev
end
return out
