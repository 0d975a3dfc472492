--[[
  Forgets ended tasks: deletes each one's hash, events and output, its idempotency key (while that key
  still names it) and its entries in the all-tasks and expiry indexes, and takes it out of the index it
  was picked from. Picks the oldest entries of that index that are due (older than the cut-off, or beyond
  the count kept), at most a batch of them, or the ids given.

  KEYS[1] index picked from     tasks:finished or dlq (zset by end time)
  KEYS[2] all-tasks index       tasks:all
  KEYS[3] expiry index          tasks:expiring

  ARGV[1] age cut-off: entries scored at or below it are due ("" = none)
  ARGV[2] entries the index keeps at most; the oldest beyond are due ("" = no limit)
  ARGV[3] batch: entries looked at, and so tasks forgotten, at most
  ARGV[4] task key template          (task:{id} with the id written as "{{id}}")
  ARGV[5] events key template        (task:{id}:events with the id written as "{{id}}")
  ARGV[6] output key template        (task:{id}:output with the id written as "{{id}}")
  ARGV[7] idempotency key template   (idem:{key} with the key written as "{{id}}")
  ARGV[8] states a task may be in to be forgotten, comma separated (",succeeded,failed,")
  ARGV[9..] ids to forget, those of them that are in KEYS[1], instead of the due ones

  An entry whose task is gone, or in a state not listed (it moved on), only leaves KEYS[1]. Deleting what
  is already gone does nothing, so a call sent twice forgets nothing twice.

  Returns {forgotten, more}: how many tasks were deleted, and 1 when the batch was full of due entries.
]]
local call = redis.call
local picked = {}
local more = 0
if #ARGV >= 9 then
  for i = 9, #ARGV do
    if call("ZSCORE", KEYS[1], ARGV[i]) then picked[#picked + 1] = ARGV[i] end
  end
else
  local batch = tonumber(ARGV[3])
  local cutoff = tonumber(ARGV[1])
  local excess = 0
  if ARGV[2] ~= "" then excess = call("ZCARD", KEYS[1]) - tonumber(ARGV[2]) end
  if excess > 0 then
    -- Oldest first: once an entry is neither beyond the count nor past the cut-off, none after it is.
    local oldest = call("ZRANGE", KEYS[1], 0, batch - 1, "WITHSCORES")
    for i = 1, #oldest, 2 do
      local rank = (i + 1) / 2
      if rank <= excess or (cutoff and tonumber(oldest[i + 1]) <= cutoff) then
        picked[rank] = oldest[i]
      else
        break
      end
    end
  elseif cutoff then
    -- Only what is due comes back: a sweep with nothing to forget reads nothing.
    picked = call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, batch)
  end
  if #picked == batch then more = 1 end
end
if #picked == 0 then return {0, 0} end

local taskHead, taskTail = string.match(ARGV[4], "^(.-){{id}}(.*)$")
local eventsHead, eventsTail = string.match(ARGV[5], "^(.-){{id}}(.*)$")
local outputHead, outputTail = string.match(ARGV[6], "^(.-){{id}}(.*)$")
local idemHead, idemTail = string.match(ARGV[7], "^(.-){{id}}(.*)$")
local gone = {}
local doomed = {}
for _, id in ipairs(picked) do
  local taskKey = taskHead .. id .. taskTail
  local current = call("HMGET", taskKey, "state", "spec")
  local state, spec = current[1], current[2]
  if not state or string.find(ARGV[8], "," .. state .. ",", 1, true) then
    gone[#gone + 1] = id
    doomed[#doomed + 1] = taskKey
    doomed[#doomed + 1] = eventsHead .. id .. eventsTail
    doomed[#doomed + 1] = outputHead .. id .. outputTail
    -- The client gives every submit a key. One with nothing JSON escapes is read as it stands; only
    -- the rest cost a decode of the spec.
    if spec and string.find(spec, '"idempotencyKey"', 1, true) then
      local key = string.match(spec, '"idempotencyKey":"([^"\\]*)"')
      if not key then
        local ok, decoded = pcall(cjson.decode, spec)
        key = ok and type(decoded) == "table" and decoded.idempotencyKey
      end
      if type(key) == "string" then
        local idemKey = idemHead .. key .. idemTail
        if call("GET", idemKey) == id then doomed[#doomed + 1] = idemKey end
      end
    end
  end
end
call("ZREM", KEYS[1], unpack(picked))
if #gone > 0 then
  call("ZREM", KEYS[2], unpack(gone))
  call("ZREM", KEYS[3], unpack(gone))
  -- Freed off the main thread where a value is big (a long output stream).
  call("UNLINK", unpack(doomed))
end
return {#gone, more}
