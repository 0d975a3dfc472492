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

  Returns a flat list: id, epoch, attempt, spec JSON, event JSON, first output seq (`outputNext`: where an
  earlier attempt's output stopped), priority (for the coordinator's tally of queued tasks) for each leased
  task, then how many tasks are left in the queue. Entries that are no longer queued on this node (cancelled, moved) are dropped from the
  queue and skipped.
]]
local call = redis.call
local leased = {}
local n = 0
local got = 0
local want = tonumber(ARGV[2])
local cap = tonumber(ARGV[7])
local node = ARGV[1]
-- Keys are made by concatenation around the id (cheaper than a gsub per task).
local taskHead, taskTail = string.match(ARGV[4], "^(.-){{id}}(.*)$")
local eventsHead, eventsTail = string.match(ARGV[5], "^(.-){{id}}(.*)$")
-- Pops what is still wanted in one call, again while popped entries turn out to be stale.
local emptied = false
while got < want do
  local popped = call("ZPOPMIN", KEYS[1], want - got)
  if #popped < 2 * (want - got) then emptied = true end
  if #popped == 0 then break end
  for p = 1, #popped, 2 do
    local id = popped[p]
    local taskKey = taskHead .. id .. taskTail
    local current = call("HMGET", taskKey, "state", "node", "spec", "epoch", "attempt", "outputNext",
      "priority")
    if current[1] == "queued" and current[2] == node then
      local epoch = (tonumber(current[4]) or 0) + 1
      local attempt = (tonumber(current[5]) or 0) + 1
      call("HSET", taskKey, "state", "leased", "leasedAt", ARGV[3], "updatedAt", ARGV[3], "epoch", epoch,
        "attempt", attempt)
      call("SADD", KEYS[2], id)
      -- Written out rather than by cjson, which would cost more than the rest of this task's lease: ids
      -- match the protocol's id pattern, which has nothing JSON escapes.
      local event = '{"taskId":"' .. id .. '","state":"leased","previous":"queued","at":' .. ARGV[3] ..
        ',"node":"' .. node .. '","attempt":' .. attempt .. ',"epoch":' .. epoch .. "}"
      local eventsKey = eventsHead .. id .. eventsTail
      if call("RPUSH", eventsKey, event) > cap then call("LTRIM", eventsKey, -cap, -1) end
      call("PUBLISH", ARGV[6], event)
      leased[n + 1] = id
      leased[n + 2] = epoch
      leased[n + 3] = attempt
      leased[n + 4] = current[3]
      leased[n + 5] = event
      leased[n + 6] = current[6] or 0
      leased[n + 7] = current[7] or "normal"
      n = n + 7
      got = got + 1
    end
  end
end
leased[n + 1] = emptied and 0 or call("ZCARD", KEYS[1])
return leased
