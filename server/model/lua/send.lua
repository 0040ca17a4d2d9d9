-- Keeps the private messages of one sender's burst, in order, each as if sent on
-- its own: checks the recipient, applies the clientMsgId dedup, the sender's rate
-- limit and the inbox's cap, appends the message to the recipient's inbox and to
-- the conversation's history with the same id, and reads where the recipient is.
-- One call, atomic: a message that is delivered is in the history. Returns four
-- values per message, {status, message id, recipient's session or '', previous
-- newest id of the inbox or ''}: status 0 no such user, 1 kept, 2 a repeated
-- clientMsgId (the id is the first send's), 3 the sender is over its rate, 4 the
-- inbox is full. Only status 1 changes anything.
--
-- KEYS: 1 users, 2 sessions, 3 the sender's rate limit (rate.lua's GCRA), then per
--       message k (from 0): 4+3k the recipient's inbox, 5+3k the conversation's
--       history, 6+3k the dedup key (used only if the message's dedup flag is '1')
-- ARGV: 1 from, 2 from's name, 3 dedup TTL (ms), 4 history cap (messages),
--       5 history age (ms), 6 slack of its TTL (ms), 7 rate interval (ms; 0: no
--       limit), 8 rate burst, 9 most messages an inbox holds (0: no cap), then per
--       message k: 10+3k to, 11+3k content, 12+3k dedup '1'/'0'
local from, name = ARGV[1], ARGV[2]
local interval, burst, cap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local age = tonumber(ARGV[5])
local known, where, last, persisted, aged = {}, {}, {}, {}, {}
local now, tat
if interval > 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
  tat = tonumber(redis.call('GET', KEYS[3])) or now
end
local rated = false
local out = {}
local function answer(status, id, at, prev)
  out[#out + 1] = status
  out[#out + 1] = id
  out[#out + 1] = at
  out[#out + 1] = prev
end
for k = 0, (#KEYS - 3) / 3 - 1 do
  local inbox, hist, dkey = KEYS[4 + 3 * k], KEYS[5 + 3 * k], KEYS[6 + 3 * k]
  local to, content, dedup = ARGV[10 + 3 * k], ARGV[11 + 3 * k], ARGV[12 + 3 * k] == '1'
  if known[to] == nil then
    known[to] = redis.call('HEXISTS', KEYS[1], to) == 1
    if known[to] then where[to] = redis.call('HGET', KEYS[2], to) or '' end
  end
  local first = false
  if known[to] and dedup then first = redis.call('GET', dkey) end
  local start
  if interval > 0 then start = math.max(tat, now) end
  if not known[to] then
    answer(0, '', '', '')
  elseif first then
    answer(2, first, where[to], '')
  elseif interval > 0 and start + interval - burst * interval > now then
    answer(3, '', where[to], '')
  elseif cap > 0 and redis.call('XLEN', inbox) >= cap then
    answer(4, '', where[to], '')
  else
    local prev = last[inbox]
    if prev == nil then
      local l = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)
      prev = ''
      if #l > 0 then prev = l[1][1] end
    end
    local id = redis.call('XADD', inbox, '*', 'f', from, 'n', name, 'c', content)
    local added = redis.pcall('XADD', hist, 'MAXLEN', '~', ARGV[4], id, 'f', from, 'n', name, 'c', content)
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
      redis.call('XADD', hist, 'MAXLEN', '~', ARGV[4], id, 'f', from, 'n', name, 'c', content)
    end
    last[inbox] = id
    if not persisted[inbox] then
      redis.call('PERSIST', inbox) -- an emptied inbox was set to expire (ack.lua)
      persisted[inbox] = true
    end
    -- The conversation expires after its age of silence: its TTL is set to the
    -- age plus a slack whenever it has fallen below the age, which a read (PTTL,
    -- not written to the AOF) tells, so most messages do not rewrite it.
    if not aged[hist] then
      if redis.call('PTTL', hist) < age then
        redis.call('PEXPIRE', hist, age + tonumber(ARGV[6]))
      end
      aged[hist] = true
    end
    if interval > 0 then
      tat = start + interval
      rated = true
    end
    if dedup then redis.call('SET', dkey, id, 'PX', ARGV[3]) end
    answer(1, id, where[to], prev)
  end
end
if rated then
  redis.call('SET', KEYS[3], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
end
return out
