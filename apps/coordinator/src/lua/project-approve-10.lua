--[[
  Approves a done task (`approve_task`): a person's act. Keys and common arguments: project-lib.lua.
  ARGV[5]: {projectId, taskId}. Returns {"ok": task}.
]]
local p, refused = projectGate(P.projectId)
if not p then return refused end
local t
t, refused = taskIn(p, P.taskId)
if not t then return refused end
if t.status ~= "done" then
  return fail("E_TASK_STATE", t.id .. " is " .. t.status .. ": only a done task can be approved", "not-done")
end
if t.approved then return fail("E_TASK_STATE", t.id .. " is approved already", "already-approved") end
t.approved = true
saveTask(t)
publish(t, "approved", ACTOR)
return ok(t)
