-- The step of a send, on a Redis Cluster, on the recipient's slot: for the
-- messages of one sender's burst to one recipient, in order, checks that the
-- recipient exists, applies the clientMsgId dedup (kept with the recipient),
-- the rate the sender's step allowed and the inbox's cap, appends the message
-- to the inbox and records its id for the dedup; and reads where the recipient
-- is. Atomic: a message is in the inbox if and only if its dedup names it.
--
-- Returns {where the recipient is online or '', newest id of the inbox before
-- the call or ''}, then per message {status, id} with send.lua's statuses.
--
-- KEYS: 1 the recipient's account, 2 its session, 3 its inbox, then the dedup
--       keys of the messages that have a clientMsgId.
-- ARGV: 1 from, 2 from's name, 3 dedup TTL (ms), 4 most messages an inbox holds
--       (0: no cap), 5 the newest id of the conversation's history ('' for none),
--       then per message k (from 0), at m = 6+3k: m content, m+1 its dedup key's
--       index in KEYS (0: no dedup), m+2 '1' if the rate allows it.
--
-- A message's id is above ARGV[5] even when this primary's clock is behind the
-- one that gave it, so that the history (send_history.lua) takes it as it is and
-- the ids of a conversation grow with its messages, in both directions.
local from, name, ttl, cap, floor = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local where = redis.call('GET', KEYS[2]) or ''
-- A recipient online has an account: most need no EXISTS.
local known = where ~= '' or redis.call('EXISTS', KEYS[1]) == 1
local prev = ''
-- One XLEN serves the cap and tells an empty inbox, which needs no XREVRANGE.
local length = known and redis.call('XLEN', KEYS[3]) or 0
if length > 0 then
  local l = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #l > 0 then prev = l[1][1] end
end
local out = {where, prev}
local touched = false
-- add appends a message to the inbox, above floor if floor is ahead of the clock.
local function add(content)
  local fms, fseq = string.match(floor, '^(%d+)-(%d+)$')
  if fms then
    local t = redis.call('TIME')
    if tonumber(fms) >= t[1] * 1000 + math.floor(t[2] / 1000) then
      local id = redis.pcall('XADD', KEYS[3], fms .. '-' .. string.format('%d', tonumber(fseq) + 1), 'f', from, 'n', name, 'c', content)
      if type(id) == 'string' then return id end
      -- The inbox is past it already: its own next id is above floor too.
    end
  end
  return redis.call('XADD', KEYS[3], '*', 'f', from, 'n', name, 'c', content)
end
for m = 6, #ARGV, 3 do
  local content, d, allowed = ARGV[m], tonumber(ARGV[m + 1]), ARGV[m + 2] == '1'
  local first = false
  if known and d > 0 then first = redis.call('GET', KEYS[d]) end
  local status, id = 1, ''
  if not known then
    status = 0
  elseif first then
    status, id = 2, first
  elseif not allowed then
    status = 3
  else
    if cap > 0 and length >= cap then
      status = 4
    else
      -- An emptied inbox was set to expire (ack.lua); one that holds messages never is.
      if not touched and prev == '' then redis.call('PERSIST', KEYS[3]) end
      touched = true
      id = add(content)
      floor = id
      length = length + 1
      if d > 0 then redis.call('SET', KEYS[d], id, 'PX', ttl) end
    end
  end
  out[#out + 1] = status
  out[#out + 1] = id
end
return out
