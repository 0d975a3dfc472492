--[[
  Gives back claims whose lease lapsed (the housekeeping sweep): the task returns to `not started`, an
  update and a failure event are published. Keys and common arguments: project-lib.lua.
  ARGV[5]: {limit}. Returns {"ok": number of claims given back}.
]]
local due = call("ZRANGEBYSCORE", KEYS[3], "-inf", now, "LIMIT", 0, P.limit or 100)
local n = 0
for _, id in ipairs(due) do
  local t = getTask(id)
  call("ZREM", KEYS[3], id)
  if t and t.status == "in progress" and t.leaseExpiresAt and t.leaseExpiresAt <= now then
    local holder = t.assignee
    t.status = "not started"
    t.assignee = nil
    t.startedAt = nil
    t.leaseExpiresAt = nil
    reindex(t, {})
    saveTask(t)
    publish(t, nil, holder)
    failure(t, holder, "claim expired: " .. tostring(holder) .. " did not update the task within its lease")
    call("HINCRBY", KEYS[7], "projects:claims_expired", 1)
    n = n + 1
  end
end
return ok(n)
