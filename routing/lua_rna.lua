-- rna: ARGV call id, agent id, reason. Releases a ringing reservation: the
-- call goes back to its queues with its original score (so ahead of every
-- later call of its priority), the agent to away/missed-call or available.
local id, aid, reason = ARGV[1], ARGV[2], ARGV[3]
local c = load_call(id)
if not c.state then fail('not_found', 'Call ' .. id .. ' does not exist.') end
if c.state ~= 'ringing' or c.agent ~= aid then
  fail('conflict', 'Call ' .. id .. ' is not ringing at agent ' .. aid .. ' (' .. c.state .. ').')
end
rna(id, c, reason, false)
return c.state
