-- answer: ARGV call id, agent id.
-- On every cycle's path, so it reads fields by position and writes the
-- agent directly instead of going through load_call/set_agent: their
-- generic tables cost more than the Redis commands here.
local id, aid = ARGV[1], ARGV[2]
local ck, ak = ckey(id), akey(aid)
local c = redis.call('HMGET', ck, 'state', 'agent', 'queue', 'node', 'enq')
local cs, q = c[1], c[3]
if not cs then fail('not_found', 'Call ' .. id .. ' does not exist.') end
if cs ~= 'ringing' or c[2] ~= aid then
  fail('conflict', 'Call ' .. id .. ' is not ringing at agent ' .. aid .. ' (' .. cs .. ').')
end
local a = redis.call('HMGET', ak, 'state', 'call', 'day', 'calls')
if a[1] ~= 'ringing' or a[2] ~= id then
  fail('conflict', 'Agent ' .. aid .. ' is not ringing for call ' .. id .. '.')
end
if not can('ringing', 'on-call') then fail('conflict', 'Agent ' .. aid .. ' cannot go from ringing to on-call.') end
redis.call('ZREM', P .. 'ring', id)
redis.call('HSET', ck, 'state', 'on-call', 'answered', NOWS)
local day = math.floor(NOW / 86400000)
local calls = 1
if num(a[3], -1) == day then calls = num(a[4], 0) + 1 end
-- call and queue stay as the reservation wrote them.
redis.call('HSET', ak, 'state', 'on-call', 'reason', '', 'since', NOWS, 'day', n2s(day), 'calls', n2s(calls))
emit(false, 'agent-state', id, aid, q, '', 'from', 'ringing', 'state', 'on-call', 'reason', '')
emit(false, 'answered', id, aid, q, c[4], 'wait_ms', n2s(NOW - num(c[5], NOW)))
return 'on-call'
