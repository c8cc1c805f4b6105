-- putqueue: ARGV name, strategy, ring ms, wrap ms, maxwait ms, widen ms,
-- maxlen, overflow kind, overflow queue, missed-away (0|1), then pairs of
-- member agent id and tier, in round-robin order.
local q = ARGV[1]
local members, order = {}, {}
local min_tier = nil
for i = 11, #ARGV, 2 do
  local aid, tier = ARGV[i], tonumber(ARGV[i + 1])
  members[aid] = tier
  order[#order + 1] = aid
  if min_tier == nil or tier < min_tier then min_tier = tier end
end
local old = redis.call('HKEYS', qkey(q, ':m'))
for _, aid in ipairs(old) do
  if members[aid] == nil then
    redis.call('HDEL', akey(aid) .. ':q', q)
    redis.call('ZREM', qkey(q, ':avail'), aid)
    redis.call('SREM', qkey(q, ':in'), aid)
  end
end
redis.call('DEL', qkey(q, ''), qkey(q, ':m'), qkey(q, ':avail'))
redis.call('HSET', qkey(q, ''), 'name', q, 'strategy', ARGV[2], 'ring', ARGV[3], 'wrap', ARGV[4],
  'maxwait', ARGV[5], 'widen', ARGV[6], 'maxlen', ARGV[7], 'of_kind', ARGV[8], 'of_queue', ARGV[9],
  'missed', ARGV[10], 'min_tier', n2s(min_tier or 0))
redis.call('SADD', P .. 'queues', q)
for pos, aid in ipairs(order) do
  local v = n2s(members[aid]) .. ':' .. n2s(pos)
  redis.call('HSET', qkey(q, ':m'), aid, v)
  redis.call('HSET', akey(aid) .. ':q', q, v)
  redis.call('SADD', P .. 'agents', aid)
  local a = load_agent(aid)
  local s = a.state or 'logged-out'
  if s ~= 'logged-out' then redis.call('SADD', qkey(q, ':in'), aid) end
  if s == 'available' then avail_add_one(aid, a, q, members[aid], pos) end
end
-- Each member's (and former member's) qs field follows its a:<id>:q hash
-- (see agent_queues); the sweep below loads the agents it offers anew.
local function sync_qs(aid)
  local r = redis.call('HGETALL', akey(aid) .. ':q')
  local t = {}
  for i = 1, #r, 2 do t[#t + 1] = r[i + 1] .. ':' .. r[i] end
  redis.call('HSET', akey(aid), 'qs', table.concat(t, ','))
end
for _, aid in ipairs(old) do
  if members[aid] == nil then sync_qs(aid) end
end
for _, aid in ipairs(order) do sync_qs(aid) end
return sweep_queue(q, 1000)
