--[[
  Leases up to N queued tasks of one node to that node's agent: pops them from the node's queue in score
  order, bumps each task's epoch (the lease's fencing token) and attempt, and marks them leased.

  KEYS[1] node queue            queue:{node}
  KEYS[2] node running set      running:{node}

  ARGV[1] node id
  ARGV[2] how many to lease at most
  ARGV[3] now (epoch ms)
  ARGV[4] task key template     (task:{id} with the id written as "{{id}}")
  ARGV[5] events key template   (task:{id}:events with the id written as "{{id}}")
  ARGV[6] updates channel
  ARGV[7] events list cap

  Returns a flat list: id, epoch, attempt, spec JSON, event JSON for each leased task. Entries that are no longer
  queued on this node (cancelled, moved) are dropped from the queue and skipped.
]]
local leased = {}
local want = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cap = tonumber(ARGV[7])
-- Pops what is still wanted in one call, again while popped entries turn out to be stale.
while #leased < want * 5 do
  local popped = redis.call("ZPOPMIN", KEYS[1], want - #leased / 5)
  if #popped == 0 then break end
  for p = 1, #popped, 2 do
    local id = popped[p]
    local taskKey = string.gsub(ARGV[4], "{{id}}", id)
    local current = redis.call("HMGET", taskKey, "state", "node", "spec", "epoch", "attempt")
    if current[1] == "queued" and current[2] == ARGV[1] then
      local epoch = (tonumber(current[4]) or 0) + 1
      local attempt = (tonumber(current[5]) or 0) + 1
      redis.call("HSET", taskKey, "state", "leased", "leasedAt", ARGV[3], "updatedAt", ARGV[3], "epoch", epoch,
        "attempt", attempt)
      redis.call("SADD", KEYS[2], id)
      local event = cjson.encode({taskId = id, state = "leased", previous = "queued", at = now,
        node = ARGV[1], attempt = attempt, epoch = epoch})
      local eventsKey = string.gsub(ARGV[5], "{{id}}", id)
      if redis.call("RPUSH", eventsKey, event) > cap then redis.call("LTRIM", eventsKey, -cap, -1) end
      redis.call("PUBLISH", ARGV[6], event)
      leased[#leased + 1] = id
      leased[#leased + 1] = epoch
      leased[#leased + 1] = attempt
      leased[#leased + 1] = current[3]
      leased[#leased + 1] = event
    end
  end
end
return leased
