-- answer: ARGV call id, agent id.
local id, aid = ARGV[1], ARGV[2]
local c = load_call(id, {'state', 'agent', 'queue', 'node', 'enq'})
if not c.state then fail('not_found', 'Call ' .. id .. ' does not exist.') end
if c.state ~= 'ringing' or c.agent ~= aid then
  fail('conflict', 'Call ' .. id .. ' is not ringing at agent ' .. aid .. ' (' .. c.state .. ').')
end
local a = load_agent(aid)
if a.state ~= 'ringing' or a.call ~= id then
  fail('conflict', 'Agent ' .. aid .. ' is not ringing for call ' .. id .. '.')
end
redis.call('ZREM', P .. 'ring', id)
redis.call('HSET', ckey(id), 'state', 'on-call', 'answered', NOWS)
local day = math.floor(NOW / 86400000)
local calls = calls_today(a) + 1
set_agent(aid, a, 'on-call', '', id, c.queue, false, {'day', n2s(day), 'calls', n2s(calls)})
emit(false, 'answered', id, aid, c.queue, c.node, 'wait_ms', n2s(NOW - num(c.enq, NOW)))
return 'on-call'
