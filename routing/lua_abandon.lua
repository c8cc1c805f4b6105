-- abandon: ARGV call id.
local id = ARGV[1]
local c = load_call(id)
if not c.state then fail('not_found', 'Call ' .. id .. ' does not exist.') end
if c.state ~= 'waiting' and c.state ~= 'ringing' then
  fail('conflict', 'Call ' .. id .. ' cannot be abandoned (' .. c.state .. ').')
end
local q = c.queue ~= '' and c.queue or split(c.queues)[1]
emit(false, 'abandoned', id, c.agent, q, c.node, 'wait_ms', n2s(NOW - num(c.enq, NOW)))
local aid = c.agent
end_call(id, c, 'abandoned', nil, false)
local a = release_agent(aid, id)
if a then match_agent(aid) end
return 'ended'
