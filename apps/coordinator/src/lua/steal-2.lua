--[[
  Moves queued tasks from a victim node's queue to a thief node's queue, keeping their scores (so their
  order is kept). A task that left the victim's queue meanwhile (leased, cancelled) is skipped.

  KEYS[1] victim queue          queue:{victim}
  KEYS[2] thief queue           queue:{thief}

  ARGV[1] thief node id
  ARGV[2] now (epoch ms)
  ARGV[3] task key template     (task:{id} with the id written as "{{id}}")
  ARGV[4..] task ids to move

  Returns the ids that moved.

  Safe to run twice without a reply cache: a task moves only from the victim's queue, so a second run
  moves nothing again; it still names a task it finds queued on the thief, so it answers as the first.
]]
local moved = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local score = redis.call("ZSCORE", KEYS[1], id)
  if score then
    local taskKey = string.gsub(ARGV[3], "{{id}}", id)
    if redis.call("HGET", taskKey, "state") == "queued" then
      redis.call("ZREM", KEYS[1], id)
      redis.call("ZADD", KEYS[2], score, id)
      redis.call("HSET", taskKey, "node", ARGV[1], "updatedAt", ARGV[2])
      redis.call("HINCRBY", taskKey, "migrations", 1)
      moved[#moved + 1] = id
    end
  elseif redis.call("ZSCORE", KEYS[2], id) then
    -- Moved by an earlier run of this call (a resend), or by another steal: queued on the thief all the same.
    local taskKey = string.gsub(ARGV[3], "{{id}}", id)
    local current = redis.call("HMGET", taskKey, "state", "node")
    if current[1] == "queued" and current[2] == ARGV[1] then moved[#moved + 1] = id end
  end
end
return moved
