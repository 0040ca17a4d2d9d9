-- Reads one page of the online list with the sessions (for the names), in one
-- round trip: {total, id1, session1, id2, session2, ...}.
--
-- KEYS[1] online set, KEYS[2] sessions hash. ARGV: first and last rank.
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local out = {tostring(redis.call('ZCARD', KEYS[1]))}
if #ids > 0 then
  local vals = redis.call('HMGET', KEYS[2], unpack(ids))
  for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = vals[i] or ''
  end
end
return out
