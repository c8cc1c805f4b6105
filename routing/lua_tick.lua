-- tick: ARGV node, heartbeat ttl ms, batch, orphan policy (end|requeue).
-- Run by every node every tick: heartbeat, ring timeouts, wrap-up ends,
-- max-wait and no-agent overflow, dead-node recovery, and a sweep that
-- matches what tier widening made eligible.
local node, ttl, batch, policy = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZADD', P .. 'nodes', n2s(NOW + ttl), node)
local st = {0, 0, 0, 0, 0}

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'ring', '-inf', NOWS, 'LIMIT', 0, batch)) do
  local c = load_call(id)
  if c.state == 'ringing' then
    rna(id, c, 'timeout', true)
    st[1] = st[1] + 1
  else
    redis.call('ZREM', P .. 'ring', id)
  end
end

for _, aid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'wrap', '-inf', NOWS, 'LIMIT', 0, batch)) do
  local a = load_agent(aid)
  redis.call('ZREM', P .. 'wrap', aid)
  if a.state == 'wrap-up' then
    set_agent(aid, a, 'available', '', '', '')
    match_agent(aid, a)
    st[2] = st[2] + 1
  end
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadline', '-inf', NOWS, 'LIMIT', 0, batch)) do
  local c = load_call(id)
  redis.call('ZREM', P .. 'deadline', id)
  if c.state == 'waiting' then
    local r = overflow(id, c, 'max-wait', true)
    if r == 'queue' then match_call(id, c) end
    st[3] = st[3] + 1
  end
end

for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', NOWS, 'LIMIT', 0, 1)) do
  local set = P .. 'n:' .. dead .. ':calls'
  for _, id in ipairs(redis.call('SRANDMEMBER', set, batch)) do
    local c = load_call(id)
    st[4] = st[4] + 1
    if not c.state or c.state == 'ended' then
      redis.call('SREM', set, id)
    elseif policy == 'requeue' and c.state ~= 'on-call' then
      local freed, faid = nil, c.agent
      if c.state == 'ringing' then
        redis.call('ZREM', P .. 'ring', id)
        emit(false, 'ring-no-answer', id, faid, c.queue, node, 'reason', 'node-lost')
        freed = release_agent(faid, id)
        c.state, c.agent, c.queue = 'waiting', '', ''
        redis.call('HSET', ckey(id), 'state', 'waiting', 'agent', '', 'queue', '')
        wait_add(id, c)
      end
      c.node = node
      redis.call('HSET', ckey(id), 'node', node)
      redis.call('SMOVE', set, P .. 'n:' .. node .. ':calls', id)
      emit(true, 'requeued', id, '', split(c.queues)[1], node, 'from_node', dead)
      match_call(id, c)
      if freed then match_agent(faid) end
    else
      lose_call(id, c, dead)
    end
  end
  if redis.call('SCARD', set) == 0 then
    redis.call('ZREM', P .. 'nodes', dead)
    redis.call('DEL', P .. 'n:' .. dead .. ':inbox')
    emit(false, 'node-lost', '', '', '', dead)
  end
end

for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  if redis.call('ZCARD', qkey(q, ':wait')) > 0 then
    if redis.call('SCARD', qkey(q, ':in')) == 0 and (qcfg(q).of_kind or '') ~= '' then
      for _, id in ipairs(redis.call('ZRANGE', qkey(q, ':wait'), 0, batch - 1)) do
        local c = load_call(id)
        if c.state == 'waiting' and not logged_in(c) then
          if overflow(id, c, 'no-agents', true) == 'queue' then match_call(id, c) end
          st[5] = st[5] + 1
        end
      end
    else
      st[5] = st[5] + sweep_queue(q, batch)
    end
  end
end
return st
