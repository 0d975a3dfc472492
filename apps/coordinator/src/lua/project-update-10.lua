--[[
  Changes a project task under the state rules (`update_task`). Keys and common arguments: project-lib.lua.
  ARGV[5]: {projectId, taskId, update: {title?, description?, toolRecommendations?, ruleRecommendations?,
  status?, completedDetails?, priority?, after?, needs?}}.

  Rules, checked before any write: an approved task changes no more; while another agent's claim holds,
  neither status nor completedDetails may change; status moves only forward (not started → in progress →
  done) but for a return to `not started`; `done` needs completedDetails in the same change; `in progress`
  needs every dependency done; `after` names tasks of the project and forms no cycle.

  Effects: `in progress` claims the task for the caller (a lease of ARGV[4] ms); any change from the holder
  renews its lease; `done` ends the claim (approved at once with autoApprove) and makes dependants ready;
  `not started` gives it back (details starting `FAILED:` are also a failure event). Returns {"ok": task}.
]]
local p, refused = projectGate(P.projectId)
if not p then return refused end
local t
t, refused = taskIn(p, P.taskId)
if not t then return refused end
local u = P.update
if t.approved then
  return fail("E_TASK_STATE", t.id .. " is approved: an approved task changes no more", "approved-frozen")
end
local claimed = t.status == "in progress" and t.assignee ~= nil and t.leaseExpiresAt ~= nil and t.leaseExpiresAt > now
local holder = claimed and t.assignee == ACTOR
if claimed and not holder and (u.status ~= nil or u.completedDetails ~= nil) then
  return fail("E_TASK_STATE", t.id .. " is claimed by " .. t.assignee .. " until " .. t.leaseExpiresAt .. " (epoch ms)", "claimed")
end
local to = u.status
if to ~= nil and to ~= t.status and to ~= "not started" and STEP[to] < STEP[t.status] then
  return fail("E_TASK_STATE", t.id .. " cannot go from " .. t.status .. " back to " .. to, "forward-only")
end
if to == "done" and (u.completedDetails == nil or u.completedDetails == "") then
  return fail("E_TASK_STATE", "completedDetails is required to set " .. t.id .. " done", "completed-details")
end
local tasks, byId = projectTasks(p)
if to == "in progress" and t.status == "not started" and not depsDone(t, byId) then
  return fail("E_DEPENDENCY", t.id .. " waits for its dependencies (" .. table.concat(t.after, ", ") .. ") to be done", "after-not-done")
end
if u.after ~= nil then
  for _, dep in ipairs(list(u.after)) do
    if dep == t.id then return fail("E_DEPENDENCY", t.id .. " cannot be after itself", "cycle") end
    if not byId[dep] then
      return fail("E_DEPENDENCY", dep .. " is not a task of project " .. p.projectId, "unknown-dep")
    end
  end
  if reaches(list(u.after), t.id, byId) then
    return fail("E_DEPENDENCY", "making " .. t.id .. " after " .. table.concat(list(u.after), ", ") .. " would form a cycle", "cycle")
  end
end

-- Every rule holds: write.
for _, field in ipairs({ "title", "description", "toolRecommendations", "ruleRecommendations", "priority", "completedDetails" }) do
  if u[field] ~= nil then t[field] = u[field] end
end
if u.needs ~= nil then t.needs = list(u.needs) end
if u.after ~= nil then t.after = list(u.after) end
local previous = t.assignee
if to == "in progress" and t.status ~= "in progress" then
  claimFor(t, ACTOR)
elseif to == "done" and t.status ~= "done" then
  release(t)
  t.status = "done"
  t.completedAt = now
  if ACTOR ~= "" then t.assignee = ACTOR end
  if p.autoApprove then t.approved = true end
  call("HINCRBY", KEYS[7], "projects:done", 1)
elseif to == "not started" and t.status ~= "not started" then
  release(t)
  t.status = "not started"
  t.assignee = nil
  t.startedAt = nil
  t.completedAt = nil
  if failedBefore(t) then
    failure(t, ACTOR ~= "" and ACTOR or previous, t.completedDetails)
    call("HINCRBY", KEYS[7], "projects:given_back_failed", 1)
  end
elseif holder then
  t.leaseExpiresAt = now + LEASE
  call("ZADD", KEYS[3], t.leaseExpiresAt, t.id)
end
reindex(t, byId)
saveTask(t)
if to ~= nil or u.after ~= nil then markReady(projectTasks(p)) end
publish(t, nil, ACTOR)
return ok(t)
