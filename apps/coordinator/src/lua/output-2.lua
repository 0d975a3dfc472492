--[[
  Appends output chunks of a run to the task's capped stream, fenced by the lease epoch.

  KEYS[1] task hash             task:{id}
  KEYS[2] output stream         task:{id}:output

  ARGV[1] epoch of the run that produced the chunks
  ARGV[2] approximate stream cap (entries)
  ARGV[3..] seq, stream, data triples

  Each entry also records the epoch of its run, and the task hash keeps `outputNext`, one past the highest
  seq stored: the next run's output is numbered from there (the lease hands it to the agent), so a task's
  output counts on across its attempts.

  Returns the number of chunks appended, or -1 when the epoch is stale or the task is not running.
]]
local current = redis.call("HMGET", KEYS[1], "state", "epoch", "outputNext")
if tonumber(current[2]) ~= tonumber(ARGV[1]) or (current[1] ~= "running" and current[1] ~= "leased") then
  return -1
end
local appended = 0
local before = tonumber(current[3]) or 0
local after = before
for i = 3, #ARGV, 3 do
  redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[2], "*", "seq", ARGV[i], "stream", ARGV[i + 1], "data", ARGV[i + 2],
    "epoch", ARGV[1])
  local seq = tonumber(ARGV[i])
  if seq and seq >= after then after = seq + 1 end
  appended = appended + 1
end
if after ~= before then redis.call("HSET", KEYS[1], "outputNext", after) end
return appended
