--[[
  The next task for the calling agent (`get_next_task`, `claim_next_task`). Keys and common arguments:
  project-lib.lua. ARGV[5]: {projectId?, capabilities: [..], peek: bool}.

  A candidate is in the ready index (`not started`, no `run`, every dependency done) and needs only
  capabilities the caller has. The index is walked in its order (highest priority, then the oldest project,
  then the task's place), so a claim reads only the tasks ahead of the one it takes that it cannot do. Without
  `peek` the task is claimed for the caller (a lease of ARGV[4] ms); with `peek`, the task the caller already
  holds in the project comes first, and nothing changes. When no task is found the project is read in full to
  say why. Returns {"ok": {"task": task?, "message": why none?}}.
]]
local projects = nil
local prefix = nil
if P.projectId then
  local p, refused = projectGate(P.projectId)
  if not p then return refused end
  projects = { p }
  prefix = string.format(":%012d:", idNumber(p.projectId))
end
local caps = {}
for _, c in ipairs(list(P.capabilities)) do caps[c] = true end

if P.peek and prefix then
  for _, t in ipairs((projectTasks(projects[1]))) do
    if t.status == "in progress" and t.assignee == ACTOR and ACTOR ~= "" then
      return ok({ task = t, message = "you hold this task" })
    end
  end
end

-- Whether the candidate of index member `member` is for the caller: the task, or nil.
local function candidate(member)
  local t = getTask("task-" .. tonumber(string.match(member, ":(%d+)$")))
  if not t or t.readyKey ~= member or t.status ~= "not started" then
    call("ZREM", KEYS[10], member)
    return nil
  end
  for _, need in ipairs(t.needs) do
    if not caps[need] then return nil end
  end
  return t
end
-- Walks the index between two lex bounds, a page at a time, for the first task the caller can do.
local function walk(from, to)
  local offset = 0
  while true do
    local page = call("ZRANGEBYLEX", KEYS[10], from, to, "LIMIT", offset, 64)
    for _, member in ipairs(page) do
      local t = candidate(member)
      if t then return t end
    end
    if #page < 64 then return nil end
    offset = offset + #page
  end
end
local best = nil
if prefix then
  for rank = 0, 3 do
    best = walk("[" .. rank .. prefix, "(" .. rank .. string.sub(prefix, 1, -2) .. ";")
    if best then break end
  end
else
  best = walk("-", "+")
end
if best then
  if not P.peek then
    claimFor(best, ACTOR)
    saveTask(best)
    publish(best, nil, ACTOR)
  end
  return ok({ task = best })
end

-- None: say why.
if not projects then
  projects = {}
  local all = call("HGETALL", KEYS[1])
  for i = 2, #all, 2 do
    local p = cjson.decode(all[i])
    if not p.completed then
      p.taskIds = list(p.taskIds)
      projects[#projects + 1] = p
    end
  end
end
local counts = { total = 0, unapproved = 0, held = 0, blocked = 0, unable = 0, fleet = 0 }
for _, p in ipairs(projects) do
  local tasks, byId = projectTasks(p)
  for _, t in ipairs(tasks) do
    counts.total = counts.total + 1
    if not (t.status == "done" and t.approved) then counts.unapproved = counts.unapproved + 1 end
    if t.status == "in progress" then
      counts.held = counts.held + 1
    elseif t.status == "not started" then
      if t.run then
        counts.fleet = counts.fleet + 1
      elseif not depsDone(t, byId) then
        counts.blocked = counts.blocked + 1
      else
        counts.unable = counts.unable + 1
      end
    end
  end
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
