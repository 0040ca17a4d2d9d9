-- Replaces a hash field only if it still holds the value read: 1 if it did.
--
-- KEYS[1] the hash. ARGV: field, expected value, new value.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
