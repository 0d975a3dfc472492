--[[
  Creates a project with its tasks (`create_project`). Keys and common arguments: project-lib.lua.
  ARGV[5]: {initialPrompt, projectPlan?, autoApprove?, tasks: [new task]}.
  Returns {"ok": {"project": project, "tasks": [task]}}.
]]
local p = {
  initialPrompt = P.initialPrompt,
  projectPlan = P.projectPlan or P.initialPrompt,
  autoApprove = P.autoApprove == true,
  completed = false,
  createdAt = now,
  taskIds = {},
}
local specs = list(P.tasks)
local refused = checkNew(p, specs, {})
if refused then return refused end
p.projectId = "proj-" .. call("INCR", KEYS[5])
local created = writeNew(p, specs, {}, {})
saveProject(p)
return ok({ project = p, tasks = created })
