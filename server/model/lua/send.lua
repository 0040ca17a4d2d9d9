-- Keeps the private messages of one sender's burst, in order, each as if sent on
-- its own: checks the recipient, applies the clientMsgId dedup, the sender's rate
-- limit and the inbox's cap, appends the message to the recipient's inbox and to
-- the conversation's history with the same id, and reads where the recipient is.
-- One call, atomic: a message that is delivered is in the history. What a burst's
-- messages share is named and done once per recipient: a burst mostly goes to one.
--
-- Returns, per recipient r, {where r is online or '', newest id of r's inbox
-- before the call or ''}, then per message {status, message id}: status 0 no such
-- user, 1 kept, 2 a repeated clientMsgId (the id is the first send's), 3 the
-- sender is over its rate, 4 the inbox is full. Only status 1 changes anything.
--
-- KEYS: 1 users, 2 sessions, 3 the sender's rate limit (rate.lua's GCRA), then per
--       recipient r (from 0): 4+2r its inbox, 5+2r the conversation's history;
--       then the dedup keys of the messages that have a clientMsgId
-- ARGV: 1 from, 2 from's name, 3 dedup TTL (ms), 4 history cap (messages),
--       5 history age (ms), 6 slack of its TTL (ms), 7 rate interval (ms; 0: no
--       limit), 8 rate burst, 9 most messages an inbox holds (0: no cap),
--       10 recipients R, then 11+r recipient r's user id, then per message k
--       (from 0), at m = 11+R+3k: m its recipient (1-based), m+1 content, m+2 its
--       dedup key's index in KEYS (0: no dedup)
local from, name = ARGV[1], ARGV[2]
local interval, burst, cap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local age, nrcpt = tonumber(ARGV[5]), tonumber(ARGV[10])
local known, empty, length, touched = {}, {}, {}, {}
local out = {}
for r = 1, nrcpt do
  local to, inbox, hist = ARGV[10 + r], KEYS[2 + 2 * r], KEYS[3 + 2 * r]
  -- A recipient online has an account: most need no HEXISTS.
  local where, prev = redis.call('HGET', KEYS[2], to) or '', ''
  known[r] = where ~= '' or redis.call('HEXISTS', KEYS[1], to) == 1
  -- One XLEN serves the cap and tells an empty inbox, which needs no XREVRANGE.
  length[r] = known[r] and redis.call('XLEN', inbox) or 0
  if length[r] > 0 then
    local l = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)
    if #l > 0 then prev = l[1][1] end
  end
  empty[r] = prev == ''
  out[#out + 1] = where
  out[#out + 1] = prev
end
local now, tat
if interval > 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
  tat = tonumber(redis.call('GET', KEYS[3])) or now
end
local rated = false
local function answer(status, id)
  out[#out + 1] = status
  out[#out + 1] = id
end
for m = 11 + nrcpt, #ARGV, 3 do
  local r, content, d = tonumber(ARGV[m]), ARGV[m + 1], tonumber(ARGV[m + 2])
  local inbox, hist = KEYS[2 + 2 * r], KEYS[3 + 2 * r]
  local first = false
  if known[r] and d > 0 then first = redis.call('GET', KEYS[d]) end
  local start
  if interval > 0 then start = math.max(tat, now) end
  if not known[r] then
    answer(0, '')
  elseif first then
    answer(2, first)
  elseif interval > 0 and start + interval - burst * interval > now then
    answer(3, '')
  else
    if cap > 0 and length[r] >= cap then
      answer(4, '')
    else
      if not touched[r] then
        -- The recipient's first message of the call: an emptied inbox was set to
        -- expire (ack.lua), an inbox that holds messages never is; the
        -- conversation expires after its age of silence, and its TTL is set to
        -- the age plus a slack whenever it has fallen below the age, which a read
        -- (PTTL, not written to the AOF) tells, so most messages do not rewrite it.
        if empty[r] then redis.call('PERSIST', inbox) end
        if redis.call('PTTL', hist) < age then
          redis.call('PEXPIRE', hist, age + tonumber(ARGV[6]))
        end
        touched[r] = true
      end
      local id = redis.call('XADD', inbox, '*', 'f', from, 'n', name, 'c', content)
      local added = redis.pcall('XADD', hist, id, 'f', from, 'n', name, 'c', content)
      if type(added) == 'table' and added.err then
        -- The other direction of the conversation took a later id within the same
        -- millisecond: give the message the next id after it, in both streams.
        local info = redis.call('XINFO', 'STREAM', hist)
        local top = ''
        for i = 1, #info, 2 do
          if info[i] == 'last-generated-id' then top = info[i + 1] end
        end
        local ms, seq = string.match(top, '^(%d+)-(%d+)$')
        redis.call('XDEL', inbox, id)
        id = ms .. '-' .. string.format('%d', tonumber(seq) + 1)
        redis.call('XADD', inbox, id, 'f', from, 'n', name, 'c', content)
        redis.call('XADD', hist, id, 'f', from, 'n', name, 'c', content)
      end
      length[r] = length[r] + 1
      if interval > 0 then
        tat = start + interval
        rated = true
      end
      if d > 0 then redis.call('SET', KEYS[d], id, 'PX', ARGV[3]) end
      answer(1, id)
    end
  end
end
-- Each history is trimmed to its cap once per call, not on every XADD: the
-- trim is approximate anyway, and checked per message it cost a tenth of the call.
for r = 1, nrcpt do
  if touched[r] then redis.call('XTRIM', KEYS[3 + 2 * r], 'MAXLEN', '~', ARGV[4]) end
end
if rated then
  redis.call('SET', KEYS[3], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
end
return out
