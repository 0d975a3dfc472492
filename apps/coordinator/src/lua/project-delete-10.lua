--[[
  Deletes a project with its tasks (`delete_project`, ARGV[5] {projectId}) or one task that is not approved
  (`delete_task`, ARGV[5] {projectId, taskId}); a deleted task is taken out of its siblings' `after`. Keys
  and common arguments: project-lib.lua. Returns {"ok": true}.
]]
local function forget(t)
  call("HDEL", KEYS[2], t.id)
  call("ZREM", KEYS[3], t.id)
  call("SREM", KEYS[4], t.id)
  if t.readyKey then call("ZREM", KEYS[10], t.readyKey) end
  publish(t, "deleted", ACTOR)
end
if P.taskId == nil then
  local p = getProject(P.projectId)
  if not p then return fail("E_NOT_FOUND", "no project " .. P.projectId, "no-project") end
  for _, t in ipairs((projectTasks(p))) do forget(t) end
  call("HDEL", KEYS[1], p.projectId)
  return ok(true)
end
local p, refused = projectGate(P.projectId)
if not p then return refused end
local t
t, refused = taskIn(p, P.taskId)
if not t then return refused end
if t.approved then
  return fail("E_TASK_STATE", t.id .. " is approved: an approved task cannot be deleted", "approved-frozen")
end
forget(t)
local ids = {}
for _, id in ipairs(p.taskIds) do
  if id ~= t.id then ids[#ids + 1] = id end
end
p.taskIds = ids
saveProject(p)
local tasks, byId = projectTasks(p)
for _, other in ipairs(tasks) do
  local kept, changed = {}, false
  for _, dep in ipairs(other.after) do
    if dep == t.id then changed = true else kept[#kept + 1] = dep end
  end
  if changed then
    other.after = kept
    saveTask(other)
  end
end
markReady(tasks, byId)
return ok(true)
