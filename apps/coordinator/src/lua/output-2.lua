--[[
  Appends output chunks of a run to the task's capped stream, fenced by the lease epoch.

  KEYS[1] task hash             task:{id}
  KEYS[2] output stream         task:{id}:output

  ARGV[1] epoch of the run that produced the chunks
  ARGV[2] approximate stream cap (entries)
  ARGV[3..] seq, stream, data triples

  Returns the number of chunks appended, or -1 when the epoch is stale or the task is not running.
]]
local current = redis.call("HMGET", KEYS[1], "state", "epoch")
if tonumber(current[2]) ~= tonumber(ARGV[1]) or (current[1] ~= "running" and current[1] ~= "leased") then
  return -1
end
local appended = 0
for i = 3, #ARGV, 3 do
  redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[2], "*", "seq", ARGV[i], "stream", ARGV[i + 1], "data", ARGV[i + 2])
  appended = appended + 1
end
return appended
