--[[
  The next task for the calling agent (`get_next_task`, `claim_next_task`). Keys and common arguments:
  project-lib.lua. ARGV[5]: {projectId?, capabilities: [..], peek: bool}.

  A candidate is `not started`, has no `run` (the fleet runs those), has every dependency done and needs
  only capabilities the caller has. The best is the highest priority, then the oldest project, then the
  task's place in its project. Without `peek` it is claimed for the caller (a lease of ARGV[4] ms); with
  `peek`, the task the caller already holds in the project comes first, and nothing changes.
  Returns {"ok": {"task": task?, "message": why none?}}.
]]
local projects = {}
if P.projectId then
  local p = getProject(P.projectId)
  if not p then return fail("E_NOT_FOUND", "no project " .. P.projectId, "no-project") end
  if p.completed then
    return ok({ message = "project " .. p.projectId .. " is finalized: it has no more tasks" })
  end
  projects[1] = p
else
  local all = call("HGETALL", KEYS[1])
  for i = 2, #all, 2 do
    local p = cjson.decode(all[i])
    if not p.completed then
      p.taskIds = list(p.taskIds)
      projects[#projects + 1] = p
    end
  end
  table.sort(projects, function(a, b) return idNumber(a.projectId) < idNumber(b.projectId) end)
end
local caps = {}
for _, c in ipairs(list(P.capabilities)) do caps[c] = true end

local best, bestRank = nil, 99
local counts = { total = 0, unapproved = 0, held = 0, blocked = 0, unable = 0, fleet = 0 }
for _, p in ipairs(projects) do
  local tasks, byId = projectTasks(p)
  for _, t in ipairs(tasks) do
    counts.total = counts.total + 1
    if not (t.status == "done" and t.approved) then counts.unapproved = counts.unapproved + 1 end
    if P.peek and t.status == "in progress" and t.assignee == ACTOR and ACTOR ~= "" then
      return ok({ task = t, message = "you hold this task" })
    end
    if t.status == "in progress" then
      counts.held = counts.held + 1
    elseif t.status == "not started" then
      if t.run then
        counts.fleet = counts.fleet + 1
      elseif not depsDone(t, byId) then
        counts.blocked = counts.blocked + 1
      else
        local able = true
        for _, need in ipairs(t.needs) do
          if not caps[need] then able = false end
        end
        if not able then
          counts.unable = counts.unable + 1
        elseif (RANK[t.priority] or 2) < bestRank then
          best, bestRank = t, RANK[t.priority] or 2
        end
      end
    end
  end
end
if best then
  if not P.peek then
    claimFor(best, ACTOR)
    saveTask(best)
    publish(best, nil, ACTOR)
  end
  return ok({ task = best })
end
local message
if counts.total > 0 and counts.unapproved == 0 then
  message = "All tasks have been completed and approved. Awaiting project completion approval."
elseif counts.total == 0 then
  message = "no tasks"
else
  message = "no task is ready for you: " .. counts.held .. " in progress, " .. counts.blocked ..
    " waiting on dependencies, " .. counts.unable .. " needing capabilities you lack, " .. counts.fleet ..
    " run by the fleet"
end
return ok({ message = message })
