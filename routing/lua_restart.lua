-- restart: ARGV node, batch. Run by Open before the first heartbeat: calls
-- still owned by this node id belong to a previous process whose SIP
-- dialogs are gone, so they end node-lost. Returns how many are left.
local node, batch = ARGV[1], tonumber(ARGV[2])
local set = P .. 'n:' .. node .. ':calls'
for _, id in ipairs(redis.call('SRANDMEMBER', set, batch)) do
  local c = load_call(id)
  if not c.state or c.state == 'ended' then
    redis.call('SREM', set, id)
  else
    lose_call(id, c, node)
  end
end
return redis.call('SCARD', set)
