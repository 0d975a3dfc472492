--[[
  Shared by every project script (`project-*-10.lua`): the loader puts this text in front of each of them,
  so every script sees the same keys, arguments and helpers. Not a script of its own.

  KEYS[1] projects               hash: project id -> project JSON (fields, taskIds in order)
  KEYS[2] project tasks          hash: project task id -> task JSON
  KEYS[3] claims                 zset: claimed task id, scored by lease expiry (ms)
  KEYS[4] runs ready             set: tasks with `run` that are ready and not yet submitted
  KEYS[5] project id counter     seq:projects
  KEYS[6] task id counter        seq:project-tasks
  KEYS[7] distribution metrics   metrics:task_distribution (hash)
  KEYS[8] runs                   hash: fleet task id -> project task id
  KEYS[9] failures               events:errors:task_failures (capped list; also the channel)
  KEYS[10] ready index           zset, every score 0: one member per task an agent could claim now (not
                                 started, no `run`, dependencies done), "<rank>:<project n>:<task n>" with
                                 the numbers zero-padded, so the index order is priority, project, place

  ARGV[1] now (epoch ms)
  ARGV[2] updates channel        events:tasks:updates
  ARGV[3] the acting agent ("" for none: housekeeping)
  ARGV[4] claim lease (ms)
  ARGV[5] the operation's arguments, JSON

  A task in the index names its member in `readyKey`; `reindex` keeps the two in step after any change.
  Every script answers JSON: {"ok": value} (with "updates": the JSON of each update it published, when it
  published any) or {"error": {"code", "message", "rule"}}. A script checks
  everything before its first write, so a refused change leaves Redis as it was.
]]
local call = redis.call
local now = tonumber(ARGV[1])
local UPDATES = ARGV[2]
local ACTOR = ARGV[3]
local LEASE = tonumber(ARGV[4])
local P = cjson.decode(ARGV[5])
local STEP = { ["not started"] = 0, ["in progress"] = 1, done = 2 }
local RANK = { critical = 0, high = 1, normal = 2, low = 3 }

local function fail(code, message, rule)
  return cjson.encode({ error = { code = code, message = message, rule = rule or "" } })
end
-- The updates this change published, sent back with its answer so the coordinator can pass them on to
-- its own WebSocket watchers.
local SENT = {}
local function ok(value)
  if #SENT > 0 then return cjson.encode({ ok = value, updates = SENT }) end
  return cjson.encode({ ok = value })
end
-- cjson writes an empty list as {}: lists read back are lists again here and in JavaScript.
local function list(value)
  if type(value) ~= "table" then return {} end
  return value
end
local function idNumber(id)
  return tonumber(string.match(id, "%-(%d+)$")) or 0
end

local function getProject(id)
  local raw = call("HGET", KEYS[1], id)
  if not raw then return nil end
  local p = cjson.decode(raw)
  p.taskIds = list(p.taskIds)
  return p
end
local function saveProject(p)
  p.updatedAt = now
  call("HSET", KEYS[1], p.projectId, cjson.encode(p))
end
local function decodeTask(raw)
  local t = cjson.decode(raw)
  t.after = list(t.after)
  t.needs = list(t.needs)
  return t
end
local function getTask(id)
  local raw = call("HGET", KEYS[2], id)
  if not raw then return nil end
  return decodeTask(raw)
end
-- The tasks of a project in order, and by id.
local function projectTasks(p)
  local tasks, byId = {}, {}
  local ids = p.taskIds
  for from = 1, #ids, 1000 do
    local chunk = call("HMGET", KEYS[2], unpack(ids, from, math.min(#ids, from + 999)))
    for i = 1, #chunk do
      if chunk[i] then
        local t = decodeTask(chunk[i])
        tasks[#tasks + 1] = t
        byId[t.id] = t
      end
    end
  end
  return tasks, byId
end
local function saveTask(t)
  t.updatedAt = now
  call("HSET", KEYS[2], t.id, cjson.encode(t))
end
local function publish(t, status, agent)
  if agent == nil or agent == "" then agent = cjson.null end
  local update = cjson.encode({
    projectId = t.projectId,
    taskId = t.id,
    status = status or t.status,
    agent = agent,
    completionTime = t.completedAt or cjson.null,
  })
  call("PUBLISH", UPDATES, update)
  SENT[#SENT + 1] = update
end
local function failure(t, agent, reason)
  local entry = cjson.encode({
    projectId = t.projectId,
    taskId = t.id,
    agent = agent or cjson.null,
    reason = reason,
    at = now,
  })
  call("RPUSH", KEYS[9], entry)
  call("LTRIM", KEYS[9], -10000, -1)
  call("PUBLISH", KEYS[9], entry)
end
-- The task's member of the ready index.
local function readyMember(t)
  return (RANK[t.priority] or 2) .. string.format(":%012d:%012d", idNumber(t.projectId), idNumber(t.id))
end
local depsDone
-- Puts t into the ready index or takes it out, as its state says (the caller saves t).
local function reindex(t, byId)
  local member = nil
  if t.status == "not started" and not t.run and depsDone(t, byId) then member = readyMember(t) end
  if t.readyKey == member then return false end
  if t.readyKey then call("ZREM", KEYS[10], t.readyKey) end
  if member then call("ZADD", KEYS[10], 0, member) end
  t.readyKey = member
  return true
end
local function release(t)
  call("ZREM", KEYS[3], t.id)
  t.leaseExpiresAt = nil
end
local function claimFor(t, agent)
  t.status = "in progress"
  reindex(t, {})
  t.assignee = agent
  t.startedAt = now
  t.leaseExpiresAt = now + LEASE
  call("ZADD", KEYS[3], t.leaseExpiresAt, t.id)
  call("HINCRBY", KEYS[7], "projects:claims", 1)
  call("HINCRBY", KEYS[7], "projects:queue_ms", math.max(0, now - (t.readyAt or t.createdAt)))
  call("HINCRBY", KEYS[7], "projects:claims:" .. agent, 1)
end
-- Whether every dependency of t is done (a dependency that no longer exists holds nothing up).
depsDone = function(t, byId)
  for _, dep in ipairs(t.after) do
    local d = byId[dep]
    if d == nil then d = getTask(dep) end
    if d and d.status ~= "done" then return false end
  end
  return true
end
local function failedBefore(t)
  return string.sub(t.completedDetails or "", 1, 7) == "FAILED:"
end
-- Tasks of the project whose readiness changed: the ready index, `readyAt` for queue time, and `run` tasks
-- to the fleet's list.
local function markReady(tasks, byId)
  for _, t in ipairs(tasks) do
    local changed = reindex(t, byId)
    if t.status == "not started" and depsDone(t, byId) then
      if not t.readyAt then
        t.readyAt = now
        changed = true
      end
      if t.run and not failedBefore(t) then call("SADD", KEYS[4], t.id) end
    end
    if changed then saveTask(t) end
  end
end
-- Whether following `after` from the ids in `start` reaches `target` (edges of byId, else Redis).
local function reaches(start, target, byId)
  local seen, stack = {}, {}
  for _, id in ipairs(start) do stack[#stack + 1] = id end
  while #stack > 0 do
    local id = table.remove(stack)
    if id == target then return true end
    if not seen[id] then
      seen[id] = true
      local t = byId[id] or getTask(id)
      if t then
        for _, dep in ipairs(list(t.after)) do stack[#stack + 1] = dep end
      end
    end
  end
  return false
end
local function projectGate(projectId)
  local p = getProject(projectId)
  if not p then return nil, fail("E_NOT_FOUND", "no project " .. projectId, "no-project") end
  if p.completed then
    return nil, fail("E_PROJECT_STATE", "project " .. projectId .. " is finalized: it changes no more", "finalized")
  end
  return p
end
local function taskIn(p, taskId)
  local t = getTask(taskId)
  if not t or t.projectId ~= p.projectId then
    return nil, fail("E_NOT_FOUND", "no task " .. taskId .. " in project " .. p.projectId, "no-task")
  end
  return t
end

-- New tasks (create, add): checks `after` (ids of this project, or #n of this call; no cycle) first.
local function checkNew(p, specs, byId)
  local n = #specs
  for i, spec in ipairs(specs) do
    for _, ref in ipairs(list(spec.after)) do
      local k = tonumber(string.match(ref, "^#(%d+)$"))
      if k then
        if k > n then
          return fail("E_DEPENDENCY", "task " .. i .. " of the call is after #" .. k .. ", but the call has " .. n, "unknown-dep")
        end
        if k == i then return fail("E_DEPENDENCY", "task " .. i .. " of the call is after itself", "cycle") end
      elseif not byId[ref] then
        return fail("E_DEPENDENCY", "task " .. i .. " of the call is after " .. ref .. ", which is not a task of project " .. p.projectId, "unknown-dep")
      end
    end
  end
  -- A cycle can only run through this call's tasks (earlier tasks never point at new ones).
  local state = {}
  local function visit(i)
    if state[i] == 1 then return true end
    if state[i] == 2 then return false end
    state[i] = 1
    for _, ref in ipairs(list(specs[i].after)) do
      local k = tonumber(string.match(ref, "^#(%d+)$"))
      if k and visit(k) then return true end
    end
    state[i] = 2
    return false
  end
  for i = 1, n do
    if visit(i) then return fail("E_DEPENDENCY", "the tasks' dependencies (after) form a cycle", "cycle") end
  end
  return nil
end
local function writeNew(p, specs, tasks, byId)
  local n = #specs
  if n == 0 then return {} end
  local first = call("INCRBY", KEYS[6], n) - n + 1
  local created = {}
  for i, spec in ipairs(specs) do
    local after = {}
    for _, ref in ipairs(list(spec.after)) do
      local k = tonumber(string.match(ref, "^#(%d+)$"))
      after[#after + 1] = k and ("task-" .. (first + k - 1)) or ref
    end
    local t = {
      id = "task-" .. (first + i - 1),
      projectId = p.projectId,
      title = spec.title,
      description = spec.description,
      toolRecommendations = spec.toolRecommendations,
      ruleRecommendations = spec.ruleRecommendations,
      status = "not started",
      approved = false,
      completedDetails = "",
      priority = spec.priority or "normal",
      after = after,
      needs = list(spec.needs),
      run = spec.run,
      createdAt = now,
      updatedAt = now,
    }
    created[i] = t
    tasks[#tasks + 1] = t
    byId[t.id] = t
    p.taskIds[#p.taskIds + 1] = t.id
    saveTask(t)
  end
  saveProject(p)
  markReady(created, byId)
  for _, t in ipairs(created) do publish(t, nil, ACTOR) end
  return created
end
