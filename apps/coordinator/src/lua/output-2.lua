--[[
  Appends output chunks of a run to the task's capped stream, fenced by the lease epoch.

  KEYS[1] task hash             task:{id}
  KEYS[2] output stream         task:{id}:output

  ARGV[1] epoch of the run that produced the chunks
  ARGV[2] approximate stream cap (entries)
  ARGV[3] output bytes kept per task (over all its attempts)
  ARGV[4..] seq, stream, data triples

  Each entry also records the epoch of its run, and the task hash keeps `outputNext`, one past the highest
  seq stored: the next run's output is numbered from there (the lease hands it to the agent), so a task's
  output counts on across its attempts. The hash also keeps `outputBytes`, the data bytes stored. The chunk
  that would pass the byte cap is stored cut (at a UTF-8 character boundary) with a marker line appended
  and a `truncated` field (the cap); the hash then says `outputTruncated` (the cap) and later chunks are
  dropped.

  Returns -1 when the epoch is stale or the task is not running; otherwise {stored whole} or, when this
  call cut a chunk, {stored whole, the cut chunk's data as stored}.
]]
local current = redis.call("HMGET", KEYS[1], "state", "epoch", "outputNext", "outputBytes", "outputTruncated")
if tonumber(current[2]) ~= tonumber(ARGV[1]) or (current[1] ~= "running" and current[1] ~= "leased") then
  return -1
end
if current[5] then return {0} end
local appended = 0
local before = tonumber(current[3]) or 0
local after = before
local limit = tonumber(ARGV[3])
local bytes = tonumber(current[4]) or 0
local cut
for i = 4, #ARGV, 3 do
  local data = ARGV[i + 2]
  local seq = tonumber(ARGV[i])
  if seq and seq >= after then after = seq + 1 end
  if bytes + #data > limit then
    local keep = limit - bytes
    -- Not inside a character: continuation bytes (0x80-0xBF) belong to the one before them.
    while keep > 0 do
      local byte = string.byte(data, keep + 1)
      if byte < 128 or byte >= 192 then break end
      keep = keep - 1
    end
    bytes = bytes + keep
    cut = string.sub(data, 1, keep) .. "\n[flotilla: output truncated at " .. limit .. " bytes]\n"
    redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[2], "*", "seq", ARGV[i], "stream", ARGV[i + 1], "data", cut,
      "epoch", ARGV[1], "truncated", limit)
    break
  end
  redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[2], "*", "seq", ARGV[i], "stream", ARGV[i + 1], "data", data,
    "epoch", ARGV[1])
  bytes = bytes + #data
  appended = appended + 1
end
if cut then
  redis.call("HSET", KEYS[1], "outputNext", after, "outputBytes", bytes, "outputTruncated", limit)
  return {appended, cut}
end
if after ~= before or appended > 0 then redis.call("HSET", KEYS[1], "outputNext", after, "outputBytes", bytes) end
return {appended}
