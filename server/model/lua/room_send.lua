-- Keeps a room message once, in the room's stream (its backlog and history):
-- checks membership, applies the clientMsgId dedup and the sender's rate (the
-- one its private messages share, send.lua's GCRA), appends and caps.
--
-- KEYS: 1 the room's hash, 2 its members, 3 its stream, 4 the dedup key (read only
--       if ARGV[5] is '1'), 5 the sender's rooms, 6 the sender's rate limit
-- ARGV: 1 room id, 2 from, 3 from's name, 4 content, 5 dedup '1'/'0',
--       6 dedup ttl (ms), 7 cap (messages), 8 history age (ms), 9 slack of its TTL (ms),
--       10 rate interval (ms; 0: no limit), 11 rate burst
-- Returns {status, id, previous, room name}: status 404 no such room, 403 not a
-- member, 429 over the rate, 1 kept, 2 duplicate (id is the first send's).
local interval, burst = tonumber(ARGV[10]), tonumber(ARGV[11])
local name = redis.call('HGET', KEYS[1], 'n')
if not name then return {404, '', '', ''} end
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {403, '', '', name} end
if ARGV[5] == '1' then
  local first = redis.call('GET', KEYS[4])
  if first then return {2, first, '', name} end
end
local now, tat
if interval > 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
  tat = math.max(tonumber(redis.call('GET', KEYS[6])) or now, now)
  if tat + interval - burst * interval > now then return {429, '', '', name} end
end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'f', ARGV[2], 'n', ARGV[3], 'c', ARGV[4])
-- The conversation expires after its age of silence: its TTL is set to the age
-- plus a slack whenever it has fallen below the age, which a read (PTTL, not
-- written to the AOF) tells, so most messages do not rewrite it.
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[8]) then
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[8]) + tonumber(ARGV[9]))
end
if ARGV[5] == '1' then redis.call('SET', KEYS[4], id, 'PX', ARGV[6]) end
if interval > 0 then
  tat = tat + interval
  redis.call('SET', KEYS[6], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
end
-- The sender needs no copy of its own message: a sender that was caught up stays so.
local cursor = redis.call('HGET', KEYS[5], ARGV[1])
if cursor and (prev == '' or cursor == prev) then redis.call('HSET', KEYS[5], ARGV[1], id) end
return {1, id, prev, name}
