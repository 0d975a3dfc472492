--[[
  Accepts a new task: checks the idempotency key, writes the task hash, indexes it and either queues it or,
  when its node has a free slot right now, leases it at once (the `queued` and `leased` steps in one go),
  all or nothing.

  KEYS[1] task hash              task:{id}
  KEYS[2] idempotency key        idem:{key} (any key name when there is no idempotency key)
  KEYS[3] all-tasks index        tasks:all (zset by createdAt)
  KEYS[4] target queue           queue:{node} or queue:waiting (zset by score)
  KEYS[5] task events list       task:{id}:events
  KEYS[6] expiry index           tasks:expiring (zset by expiresAt)
  KEYS[7] node running set       running:{node} (any key name when not leasing)

  ARGV[1] task id
  ARGV[2] now (epoch ms)
  ARGV[3] "1" when KEYS[2] is a real idempotency key
  ARGV[4] idempotency key lifetime in seconds
  ARGV[5] queue score
  ARGV[6] event JSON (the "queued"/"waiting" event)
  ARGV[7] updates channel        events:tasks:updates
  ARGV[8] task key template     (task:{id} with the id written as "{{id}}")
  ARGV[9] expiresAt (epoch ms), or "" when the task has no TTL
  ARGV[10] the "leased" event JSON when the task is leased at once (the hash fields then say state
           leased, epoch 1, attempt 1), or "" to queue it
  ARGV[11] the waiting list's cap when KEYS[4] is the waiting list, or "" (a node queue: capped by the caller)
  ARGV[12..] field, value pairs of the task hash

  Returns {0, id} when accepted, {1, existingId, existingState} for a duplicate idempotency key, {2} when the
  waiting list is full (nothing is written then).

  Safe to run twice without a reply cache: task ids are new for each submit, so a task hash (or an
  idempotency key held) under this very id means this call ran before, and it answers as it did then.
]]
if ARGV[3] == "1" then
  -- Claims the key and reads who held it in one call (Redis 7.0: NX with GET); nothing is written when the
  -- key was held already.
  local existing = redis.call("SET", KEYS[2], ARGV[1], "NX", "GET", "EX", ARGV[4])
  if existing == ARGV[1] then return {0, ARGV[1]} end
  if existing then
    local state = redis.call("HGET", (string.gsub(ARGV[8], "{{id}}", existing)), "state")
    return {1, existing, state or "unknown"}
  end
end
-- A write sent twice (a resend after a reconnect) must not index the task twice. With an idempotency key
-- the check above already catches it: the first write set the key.
if ARGV[3] ~= "1" and redis.call("EXISTS", KEYS[1]) == 1 then return {0, ARGV[1]} end

if ARGV[11] ~= "" and redis.call("ZCARD", KEYS[4]) >= tonumber(ARGV[11]) then
  -- Refused: the idempotency key claimed above is let go again.
  if ARGV[3] == "1" then redis.call("DEL", KEYS[2]) end
  return {2}
end
redis.call("HSET", KEYS[1], unpack(ARGV, 12))
-- Numbers stay the strings they came as: Redis parses them once, with no Lua round trip through a double.
redis.call("ZADD", KEYS[3], ARGV[2], ARGV[1])
if ARGV[9] ~= "" then redis.call("ZADD", KEYS[6], ARGV[9], ARGV[1]) end
if ARGV[10] == "" then
  redis.call("ZADD", KEYS[4], ARGV[5], ARGV[1])
  redis.call("RPUSH", KEYS[5], ARGV[6])
else
  redis.call("SADD", KEYS[7], ARGV[1])
  redis.call("RPUSH", KEYS[5], ARGV[6], ARGV[10])
end
redis.call("PUBLISH", ARGV[7], ARGV[6])
if ARGV[10] ~= "" then redis.call("PUBLISH", ARGV[7], ARGV[10]) end
return {0, ARGV[1]}
