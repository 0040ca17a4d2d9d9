-- Keeps a private message: checks the recipient, applies the clientMsgId dedup,
-- the sender's rate limit and the inbox's cap, appends the message to the
-- recipient's inbox and to the conversation's history with the same id, and reads
-- where the recipient is. One round trip, atomic: a message that is delivered is
-- in the history. Returns {status, message id, recipient's session or '',
-- previous newest id or ''}: status 0 no such user, 1 kept, 2 a repeated
-- clientMsgId (the id is the first send's), 3 the sender is over its rate, 4 the
-- inbox is full. Only status 1 changes anything.
--
-- KEYS: 1 users, 2 sessions, 3 the recipient's inbox, 4 the conversation's
--       history, 5 the sender's rate limit (rate.lua's GCRA), 6 the dedup key
--       (used only if ARGV[5] is '1')
-- ARGV: 1 to, 2 from, 3 from's name, 4 content, 5 dedup '1'/'0', 6 dedup TTL (ms),
--       7 history cap (messages), 8 history age (ms), 9 slack of its TTL (ms),
--       10 rate interval (ms; 0: no limit), 11 rate burst, 12 most messages an
--       inbox holds (0: no cap)
local to, from, name, content = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local interval, burst, cap = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
if redis.call('HEXISTS', KEYS[1], to) == 0 then return {0, '', '', ''} end
local where = redis.call('HGET', KEYS[2], to) or ''
if ARGV[5] == '1' then
  local first = redis.call('GET', KEYS[6])
  if first then return {2, first, where, ''} end
end
local now, tat
if interval > 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
  tat = math.max(tonumber(redis.call('GET', KEYS[5])) or now, now)
  if tat + interval - burst * interval > now then return {3, '', where, ''} end
end
if cap > 0 and redis.call('XLEN', KEYS[3]) >= cap then return {4, '', where, ''} end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
local id = redis.call('XADD', KEYS[3], '*', 'f', from, 'n', name, 'c', content)
local added = redis.pcall('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], id, 'f', from, 'n', name, 'c', content)
if type(added) == 'table' and added.err then
  -- The other direction of the conversation took a later id within the same
  -- millisecond: give the message the next id after it, in both streams.
  local info = redis.call('XINFO', 'STREAM', KEYS[4])
  local top = ''
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then top = info[i + 1] end
  end
  local ms, seq = string.match(top, '^(%d+)-(%d+)$')
  redis.call('XDEL', KEYS[3], id)
  id = ms .. '-' .. string.format('%d', tonumber(seq) + 1)
  redis.call('XADD', KEYS[3], id, 'f', from, 'n', name, 'c', content)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], id, 'f', from, 'n', name, 'c', content)
end
redis.call('PERSIST', KEYS[3]) -- an emptied inbox was set to expire (ack.lua)
-- The conversation expires after its age of silence: its TTL is set to the age
-- plus a slack whenever it has fallen below the age, which a read (PTTL, not
-- written to the AOF) tells, so most messages do not rewrite it.
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[8]) then
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[8]) + tonumber(ARGV[9]))
end
if interval > 0 then
  tat = tat + interval
  redis.call('SET', KEYS[5], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
end
if ARGV[5] == '1' then redis.call('SET', KEYS[6], id, 'PX', ARGV[6]) end
return {1, id, where, prev}
