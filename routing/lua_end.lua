-- end: ARGV call id. Ends an answered call; the agent goes to wrap-up.
local id = ARGV[1]
local c = load_call(id, {'state', 'agent', 'queue', 'queues', 'node', 'enq', 'answered'})
if not c.state then fail('not_found', 'Call ' .. id .. ' does not exist.') end
if c.state ~= 'on-call' then fail('conflict', 'Call ' .. id .. ' is not answered (' .. c.state .. ').') end
local talk = NOW - num(c.answered, NOW)
end_call(id, c, 'completed', {'talk_ms', n2s(talk)}, false)
finish_agent(id, c, talk)
return 'ended'
