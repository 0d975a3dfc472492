--[[
  Marks a project complete (`finalize_project`): only when every task is done and approved. Keys and
  common arguments: project-lib.lua. ARGV[5]: {projectId}. Returns {"ok": project}.
]]
local p, refused = projectGate(P.projectId)
if not p then return refused end
local tasks = projectTasks(p)
local notDone, notApproved = {}, {}
for _, t in ipairs(tasks) do
  if t.status ~= "done" then
    notDone[#notDone + 1] = t.id
  elseif not t.approved then
    notApproved[#notApproved + 1] = t.id
  end
end
if #notDone > 0 then
  return fail("E_PROJECT_STATE", "not all tasks are done: " .. table.concat(notDone, ", "), "not-all-done")
end
if #notApproved > 0 then
  return fail("E_PROJECT_STATE", "not all done tasks are approved: " .. table.concat(notApproved, ", "), "not-all-approved")
end
p.completed = true
saveProject(p)
return ok(p)
