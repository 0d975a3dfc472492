--[[
  A project task's `run` on the fleet. Keys and common arguments: project-lib.lua.
  ARGV[5] {op: "started", taskId, fleetTaskId}: the fleet task was submitted: the task is `in progress`,
    held by "fleet", and the run is recorded (fleet task id -> task). Nothing changes unless the task is
    still `not started`.
  ARGV[5] {op: "finished", taskId, fleetTaskId, success: bool, details}: the run ended: `done` with the
    details (approved with autoApprove), or back to `not started` with `FAILED: details` and a failure
    event (not submitted again until an update re-arms it). `fleetTaskId` "" = the submit itself failed.
  Returns {"ok": task or false}.
]]
local t = getTask(P.taskId)
if P.op == "started" then
  call("SREM", KEYS[4], P.taskId)
  if not t or t.status ~= "not started" or not t.run then return ok(false) end
  claimFor(t, "fleet")
  call("ZREM", KEYS[3], t.id)
  t.leaseExpiresAt = nil
  t.fleetTaskId = P.fleetTaskId
  t.runs = (t.runs or 0) + 1
  saveTask(t)
  call("HSET", KEYS[8], P.fleetTaskId, t.id)
  publish(t, nil, "fleet")
  return ok(t)
end
if P.fleetTaskId ~= "" then call("HDEL", KEYS[8], P.fleetTaskId) else call("SREM", KEYS[4], P.taskId) end
if not t or t.approved or t.status == "done" then return ok(false) end
if P.fleetTaskId ~= "" and t.fleetTaskId ~= P.fleetTaskId then return ok(false) end
local p = getProject(t.projectId)
if not p then return ok(false) end
if P.success then
  t.status = "done"
  t.completedDetails = P.details
  t.completedAt = now
  if p.autoApprove then t.approved = true end
  call("HINCRBY", KEYS[7], "projects:done", 1)
else
  t.status = "not started"
  t.completedDetails = "FAILED: " .. P.details
  t.assignee = nil
  t.startedAt = nil
  failure(t, "fleet", t.completedDetails)
  call("HINCRBY", KEYS[7], "projects:runs_failed", 1)
end
saveTask(t)
publish(t, nil, "fleet")
local tasks, byId = projectTasks(p)
markReady(tasks, byId)
return ok(t)
