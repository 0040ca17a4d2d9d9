-- Keeps a private message: checks the recipient, applies the clientMsgId dedup,
-- appends the message to the recipient's inbox and to the conversation's history
-- with the same id, and reads where the recipient is. One round trip, atomic: a
-- message that is delivered is in the history.
--
-- KEYS: 1 users, 2 session, 3 the recipient's inbox, 4 the conversation's history,
--       5 the dedup key (read only if ARGV[5] is '1')
-- ARGV: 1 to, 2 from, 3 from's name, 4 content, 5 dedup '1'/'0', 6 dedup ttl (ms),
--       7 history cap (messages), 8 history age (ms), 9 slack of its TTL (ms)
-- Returns {status, id, where, previous}: status 0 no such user, 1 kept, 2 duplicate.
local to, from, name, content = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HEXISTS', KEYS[1], to) == 0 then return {0, '', '', ''} end
local where = redis.call('HGET', KEYS[2], to) or ''
if ARGV[5] == '1' then
  local first = redis.call('GET', KEYS[5])
  if first then return {2, first, where, ''} end
end
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
-- The conversation expires after its age of silence: its TTL is set to the age
-- plus a slack whenever it has fallen below the age, which a read (PTTL, not
-- written to the AOF) tells, so most messages do not rewrite it.
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[8]) then
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[8]) + tonumber(ARGV[9]))
end
if ARGV[5] == '1' then redis.call('SET', KEYS[5], id, 'PX', ARGV[6]) end
return {1, id, where, prev}
