-- The step of a send, on a Redis Cluster, on the conversation's slot: keeps
-- messages already in the recipient's inbox in the conversation's history. A
-- message gets its inbox id unless the other direction of the conversation
-- took a later one (inboxes live on other primaries, with their own clocks):
-- then an id of the history's own, and its inbox id in the field 'i'. A
-- message marked 'e' (a resend the inbox recognised) is added only if it is
-- not there already: a send cut short between its two steps is completed by
-- its resend.
--
-- KEYS[1] the conversation's history. ARGV: 1 cap (messages), 2 age (ms),
-- 3 slack of its TTL (ms), then per message, at m = 4+5k: m from, m+1 from's
-- name, m+2 content, m+3 its inbox id, m+4 'a' (add) or 'e' (add unless there).
local age = tonumber(ARGV[2])
local touched = false
local function present(id)
  if #redis.call('XRANGE', KEYS[1], id, id) > 0 then return true end
  for _, e in ipairs(redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 64)) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'i' and f[i + 1] == id then return true end
    end
  end
  return false
end
for m = 4, #ARGV, 5 do
  local from, name, content, id = ARGV[m], ARGV[m + 1], ARGV[m + 2], ARGV[m + 3]
  if ARGV[m + 4] ~= 'e' or not present(id) then
    if not touched then
      -- As send.lua: the TTL is renewed only once it has fallen below the age.
      if redis.call('PTTL', KEYS[1]) < age then
        redis.call('PEXPIRE', KEYS[1], age + tonumber(ARGV[3]))
      end
      touched = true
    end
    local added = redis.pcall('XADD', KEYS[1], id, 'f', from, 'n', name, 'c', content)
    if type(added) == 'table' and added.err then
      redis.call('XADD', KEYS[1], '*', 'f', from, 'n', name, 'c', content, 'i', id)
    end
  end
end
if touched then redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[1]) end
return 1
