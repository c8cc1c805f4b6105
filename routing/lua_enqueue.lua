-- enqueue: ARGV id, node, priority, caller, queues (comma-separated),
-- replied ('1': the caller owns the call and rings an agent this returns,
-- so an offer made here is not also sent as a notice).
-- Returns {status, result, queue, position, agent, ring ms}; the last two
-- say whom the call rings and for how long when it is offered at once.
local id, node, prio, caller = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('EXISTS', ckey(id)) == 1 then fail('conflict', 'Call ' .. id .. ' is already routed.') end
local qs = split(ARGV[5])
for _, q in ipairs(qs) do
  if not qcfg(q).strategy then fail('not_found', 'Queue ' .. q .. ' does not exist.') end
end
local prim = qs[1]
local pcfg = qcfg(prim)
local full = num(pcfg.maxlen, 0) > 0 and redis.call('ZCARD', qkey(prim, ':wait')) >= num(pcfg.maxlen, 0)
if full then
  local k = pcfg.of_kind or ''
  if k == '' or (k == 'queue' and redis.call('EXISTS', qkey(pcfg.of_queue or '', '')) == 0) then
    fail('unavailable', 'Queue ' .. prim .. ' is full.')
  end
end

local c = {queues = ARGV[5], prio = n2s(prio), enq = NOWS, node = node, caller = caller, state = 'waiting',
  agent = '', queue = '', replied = ARGV[6] == '1'}
redis.call('SADD', P .. 'n:' .. node .. ':calls', id)
emit(false, 'enqueued', id, '', prim, node, 'queues', c.queues, 'priority', n2s(prio))

if full then
  write_call(id, c)
  overflow(id, c, 'full', false)
else
  -- Offer at once if an agent is free: no call waiting in the queue can be
  -- eligible for that agent (it would have been matched when the agent or
  -- the call arrived), so this call jumps nobody. It is then never added
  -- to the waiting sets at all.
  c.unqueued, c.fresh = true, true
  match_call(id, c)
  c.unqueued, c.fresh = nil, nil
  write_call(id, c)
  if c.state == 'waiting' then wait_add(id, c) end
end
local hops = 0
while c.state == 'waiting' and not logged_in(c) and hops < 5 do
  hops = hops + 1
  if not overflow(id, c, 'no-agents', false) then break end
end
if c.state == 'waiting' and (full or hops > 0) then match_call(id, c) end
local result = ''
if c.state == 'ended' then result = redis.call('HGET', ckey(id), 'result') end
local q = c.queue
if q == nil or q == '' then q = split(c.queues)[1] end
local pos = 0
if c.state == 'waiting' then pos = position(id, c) end
local ring = 0
if c.state == 'ringing' then ring = num(qcfg(q).ring, 20000) end
return {c.state, result, q, pos, c.agent or '', ring}
