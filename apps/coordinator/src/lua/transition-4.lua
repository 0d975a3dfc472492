--[[
  Moves one task from one state to another, fenced by its lease epoch. Every state change after submit and
  lease goes through here: start, finish, retry, requeue after a node fault, dead-lettering, cancel,
  expiry, failing a task that waited too long.

  KEYS[1] task hash             task:{id}
  KEYS[2] source                the zset (queue) or set (running:{node}) the task leaves, per ARGV[11]
  KEYS[3] target zset           the queue / delayed set / dlq it joins, per ARGV[5]
  KEYS[4] task events list      task:{id}:events

  ARGV[1]  expected epoch ("" = do not check)
  ARGV[2]  allowed current states, comma separated (",queued,waiting,")
  ARGV[3]  new state
  ARGV[4]  new node ("" = unchanged, "-" = remove)
  ARGV[5]  target score ("" = do not add to KEYS[3])
  ARGV[6]  "1" to bump the epoch (fences the old lease)
  ARGV[7]  attempt delta (0, or -1 when a lease is handed back without running)
  ARGV[8]  now (epoch ms)
  ARGV[9]  reason ("" = none), recorded in the event
  ARGV[10] updates channel
  ARGV[11] source kind: "zset", "set" or "none"
  ARGV[12] attempt record JSON to append to the task's attempts ("" = none)
  ARGV[13] events list cap
  ARGV[14] "1" to return the task hash after the change, as a JSON object of its fields; "0" not to;
           "=N" to return it only if the task's history did not hold N events before this change: N is
           what the caller's own copy of the task counts, so the hash comes back only when a change the
           caller did not make came in between (every state change records an event)
  ARGV[15..] field, value pairs to set on the task hash ("" value deletes the field)

  Returns {1, newEpoch, attempt, eventJson, previous state, priority[, task hash JSON]} on success (the
  previous state and the priority keep the coordinator's tally of tasks by state), {-1, currentEpoch} for
  a stale
  epoch, {-2, currentState} when the task is not in an allowed state, {-3} when the task does not exist.
]]
local call = redis.call

-- One read: the whole hash when it is to be returned, otherwise the fields this needs and those it may
-- delete (deleting what is not there is skipped).
local wantHash = ARGV[14] == "1"
local expectedEvents = string.sub(ARGV[14], 1, 1) == "=" and tonumber(string.sub(ARGV[14], 2)) or nil
local hash
local current
local present = {}
if wantHash then
  local flat = call("HGETALL", KEYS[1])
  hash = {}
  for i = 1, #flat, 2 do hash[flat[i]] = flat[i + 1] end
  current = {hash.state, hash.epoch, hash.attempt, hash.node, hash.attempts, hash.id, hash.priority}
  for i = 15, #ARGV, 2 do
    if ARGV[i + 1] == "" and hash[ARGV[i]] then present[ARGV[i]] = true end
  end
else
  local names = {"state", "epoch", "attempt", "node", "attempts", "id", "priority"}
  local count = 7
  for i = 15, #ARGV, 2 do
    if ARGV[i + 1] == "" then
      count = count + 1
      names[count] = ARGV[i]
    end
  end
  current = call("HMGET", KEYS[1], unpack(names))
  for i = 8, count do
    if current[i] then present[names[i]] = true end
  end
end
if not current[1] then return {-3} end
local epoch = tonumber(current[2]) or 0
if ARGV[1] ~= "" and tonumber(ARGV[1]) ~= epoch then return {-1, epoch} end
if not string.find(ARGV[2], "," .. current[1] .. ",", 1, true) then return {-2, current[1]} end

local id = current[6]
local priority = current[7] or "normal"
if ARGV[11] == "zset" then
  call("ZREM", KEYS[2], id)
elseif ARGV[11] == "set" then
  call("SREM", KEYS[2], id)
end
local attempt = tonumber(current[3]) or 0

-- All fields in one HSET and one HDEL.
local set = {"state", ARGV[3], "updatedAt", ARGV[8]}
local n = 4
if ARGV[6] == "1" then
  epoch = epoch + 1
  set[n + 1] = "epoch"
  set[n + 2] = tostring(epoch)
  n = n + 2
end
if ARGV[7] ~= "0" then
  attempt = attempt + tonumber(ARGV[7])
  set[n + 1] = "attempt"
  set[n + 2] = tostring(attempt)
  n = n + 2
end
local unset = {}
local node = current[4]
if ARGV[4] == "-" then
  if node then unset[#unset + 1] = "node" end
  node = nil
elseif ARGV[4] ~= "" then
  set[n + 1] = "node"
  set[n + 2] = ARGV[4]
  n = n + 2
  node = ARGV[4]
end
for i = 15, #ARGV, 2 do
  if ARGV[i + 1] == "" then
    if present[ARGV[i]] then unset[#unset + 1] = ARGV[i] end
  else
    set[n + 1] = ARGV[i]
    set[n + 2] = ARGV[i + 1]
    n = n + 2
  end
end
if ARGV[12] ~= "" then
  local attempts = current[5] and cjson.decode(current[5]) or {}
  attempts[#attempts + 1] = cjson.decode(ARGV[12])
  set[n + 1] = "attempts"
  set[n + 2] = cjson.encode(attempts)
  n = n + 2
end
call("HSET", KEYS[1], unpack(set))
if #unset > 0 then call("HDEL", KEYS[1], unpack(unset)) end
if ARGV[5] ~= "" then call("ZADD", KEYS[3], ARGV[5], id) end

-- The event, written out rather than by cjson (which costs more): ids match the protocol's id pattern and
-- states are names, none with anything JSON escapes; only the reason is free text.
local encoded = '{"taskId":"' .. id .. '","state":"' .. ARGV[3] .. '","previous":"' .. current[1] ..
  '","at":' .. ARGV[8] .. ',"attempt":' .. attempt .. ',"epoch":' .. epoch
if node then encoded = encoded .. ',"node":"' .. node .. '"' end
if ARGV[9] ~= "" then encoded = encoded .. ',"reason":' .. cjson.encode(ARGV[9]) end
encoded = encoded .. "}"
local cap = tonumber(ARGV[13])
local events = call("RPUSH", KEYS[4], encoded)
if events > cap then call("LTRIM", KEYS[4], -cap, -1) end
call("PUBLISH", ARGV[10], encoded)
-- The caller's copy is out of date (or the history was cut at its cap): it gets the record after all.
if expectedEvents and events ~= expectedEvents + 1 then wantHash = true end
if wantHash and not hash then
  local flat = call("HGETALL", KEYS[1])
  hash = {}
  for i = 1, #flat, 2 do hash[flat[i]] = flat[i + 1] end
  return {1, epoch, attempt, encoded, current[1], priority, cjson.encode(hash)}
end
if wantHash then
  -- The record as one JSON object (one string to send and read back; a field, value list costs Redis
  -- more to reply with): what was read, with this change applied.
  for i = 1, n, 2 do hash[set[i]] = set[i + 1] end
  for _, field in ipairs(unset) do hash[field] = nil end
  return {1, epoch, attempt, encoded, current[1], priority, cjson.encode(hash)}
end
return {1, epoch, attempt, encoded, current[1], priority}
