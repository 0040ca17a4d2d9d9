-- Replaces a hash field, or a string when the field is '', only if it still
-- holds the value read: 1 if it did.
--
-- KEYS[1] the hash or string. ARGV: field ('' for a string), expected value,
-- new value.
if ARGV[1] == '' then
  if redis.call('GET', KEYS[1]) == ARGV[2] then
    redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
    return 1
  end
  return 0
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
