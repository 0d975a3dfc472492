--[[
  Adds tasks at the end of a project (`add_tasks_to_project`, `create_task`). Keys and common arguments:
  project-lib.lua. ARGV[5]: {projectId, tasks: [new task]}. Returns {"ok": {"tasks": [task]}}.
]]
local p, refused = projectGate(P.projectId)
if not p then return refused end
local tasks, byId = projectTasks(p)
local specs = list(P.tasks)
refused = checkNew(p, specs, byId)
if refused then return refused end
return ok({ tasks = writeNew(p, specs, tasks, byId) })
