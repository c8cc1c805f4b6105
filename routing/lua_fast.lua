-- The operations of every call, written for the common case. A run of the
-- batch script creates only the small helpers above the @lazy line of
-- lua_lib.lua; the rest of the library (and op_<name> for the operations
-- of lua_<name>.lua) is built by lib() when an operation needs it.
--
-- fast_enqueue and fast_end handle the common case and return true and
-- the result. Otherwise they return false before they have written
-- anything, and the operation runs as op_<name> from the library. What
-- they write, and the events they emit in their order, is what op_<name>
-- writes and emits for the same case: the tests run both paths.
-- fast_answer is the whole answer operation.

-- answer: ARGV call id, agent id. Reads fields by position and writes the
-- agent directly: generic tables cost more than the commands here.
--
-- The fast paths write only the fields that change: every field of an
-- HSET costs Redis about as much as a read, twice over with the AOF. An
-- agent's reason is '' in every state but away (set_agent writes it so),
-- so a move between two other states leaves it alone.
local function fast_answer(ARGV)
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
  redis.call('ZREM', P .. 'ring', id)
  redis.call('HSET', ck, 'state', 'on-call', 'answered', NOWS)
  local day = math.floor(NOW / 86400000)
  -- call and queue stay as the reservation wrote them.
  if num(a[3], -1) == day then
    redis.call('HSET', ak, 'state', 'on-call', 'since', NOWS, 'calls', n2s(num(a[4], 0) + 1))
  else
    redis.call('HSET', ak, 'state', 'on-call', 'since', NOWS, 'day', n2s(day), 'calls', '1')
  end
  emit_state(id, aid, q, 'ringing', 'on-call')
  emit(false, 'answered', id, aid, q, c[4], 'wait_ms', n2s(NOW - num(c[5], NOW)))
  return true, 'on-call'
end

-- fast_enqueue: a new call for one queue whose strategy offers the head of
-- the available set (longest-idle, fewest-calls, skills without widening),
-- not full, with an available agent at the head (and a desk, when one is
-- required) who carries their memberships: offered at once. Everything
-- else (waiting, several queues, round-robin, widening, overflow, a stale
-- index entry, a conflict) is op_enqueue's.
local function fast_enqueue(ARGV)
  local id, node, prio, caller, q = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
  if not prio or not caller or not q or string.find(q, ',', 1, true) then return false end
  local cfg = qcfg(q)
  local strategy = cfg.strategy
  if not strategy or strategy == 'round-robin' or (strategy == 'skills' and cfgnum(cfg, 'widen', 0) > 0) then
    return false
  end
  local maxlen = cfgnum(cfg, 'maxlen', 0)
  if maxlen > 0 and redis.call('ZCARD', qkey(q, ':wait')) >= maxlen then return false end
  local ck = ckey(id)
  if redis.call('EXISTS', ck) == 1 then return false end
  local aid = redis.call('ZRANGE', qkey(q, ':avail'), 0, 0)[1]
  if not aid then return false end
  local ak = akey(aid)
  local a = redis.call('HMGET', ak, 'state', 'idle', 'qs')
  if a[1] ~= 'available' or not a[2] or not a[3] then return false end
  if REQUIRE_DESK and redis.call('ZCOUNT', P .. 'desk:presence:' .. aid, NOW, '+inf') == 0 then return false end

  local ps, ring = n2s(prio), cfgnum(cfg, 'ring', 20000)
  redis.call('SADD', P .. 'n:' .. node .. ':calls', id)
  emit(false, 'enqueued', id, '', q, node, 'queues', q, 'priority', ps)
  redis.call('ZADD', P .. 'ring', n2s(NOW + ring), id)
  for _, m in ipairs(agent_queues(aid, {qs = a[3]})) do redis.call('ZREM', qkey(m[1], ':avail'), aid) end
  redis.call('HSET', ak, 'state', 'ringing', 'since', NOWS, 'call', id, 'queue', q) -- reason '', idle kept
  emit_state(id, aid, q, 'available', 'ringing')
  emit(ARGV[6] ~= '1', 'offer', id, aid, q, node, 'wait_ms', '0', 'ring_ms', n2s(ring), 'attempt', '1')
  redis.call('HSET', ck, 'queues', q, 'prio', ps, 'enq', NOWS, 'node', node, 'caller', caller, 'state', 'ringing',
    'agent', aid, 'queue', q, 'offered', NOWS, 'offers', '1')
  return true, {'ringing', '', q, 0, aid, ring}
end

-- make_available makes an agent (from: on-call, wrap-up or away; with
-- memberships qs) available, as set_agent and then match_agent do: in
-- every queue's available set, and offered the best waiting call by the
-- library's match_agent only when one of its queues has calls waiting.
-- Returns whether match_agent ran (the agent may be ringing now).
local function make_available(aid, ak, from, day, calls, qs)
  if from == 'away' then
    redis.call('HSET', ak, 'state', 'available', 'reason', '', 'since', NOWS, 'call', '', 'queue', '', 'idle', NOWS)
  else
    redis.call('HSET', ak, 'state', 'available', 'since', NOWS, 'call', '', 'queue', '', 'idle', NOWS)
  end
  forget_desk_call(aid)
  local ag = {state = 'available', reason = '', call = '', queue = '', idle = NOWS, day = day, calls = calls, qs = qs}
  local ms = agent_queues(aid, ag)
  local today = calls_today(ag)
  for _, m in ipairs(ms) do
    redis.call('ZADD', qkey(m[1], ':avail'), n2s(ascore(qcfg(m[1]).strategy, m[2], m[3], today, NOW)), aid)
  end
  emit_state('', aid, '', from, 'available')
  for _, m in ipairs(ms) do
    local mq = m[1]
    if not NOWAIT[mq] then
      if redis.call('EXISTS', qkey(mq, ':wait')) == 1 then
        lib().match_agent(aid, ag)
        return true
      end
      NOWAIT[mq] = true
    end
  end
  return false
end

-- fast_end: an answered call whose agent is on it and carries their
-- memberships ends; the agent goes to wrap-up, or is available again and
-- offered the best waiting call (by the library's match_agent, only when
-- one of the agent's queues has calls waiting).
local function fast_end(ARGV)
  local id = ARGV[1]
  local ck = ckey(id)
  local c = redis.call('HMGET', ck, 'state', 'agent', 'queue', 'node', 'enq', 'answered')
  local aid, q, node = c[2], c[3], c[4]
  if c[1] ~= 'on-call' or not aid or aid == '' or not q or q == '' or not node then return false end
  local ak = akey(aid)
  local a = redis.call('HMGET', ak, 'state', 'call', 'idle', 'day', 'calls', 'qs')
  if a[1] ~= 'on-call' or a[2] ~= id or not a[3] or not a[6] then return false end
  local wrap = cfgnum(qcfg(q), 'wrap', 0)
  local to = 'available'
  if wrap > 0 then to = 'wrap-up' end

  local answered = num(c[6], NOW)
  local talk = NOW - answered
  redis.call('SREM', P .. 'n:' .. node .. ':calls', id)
  redis.call('HSET', ck, 'state', 'ended', 'result', 'completed', 'ended', NOWS)
  redis.call('PEXPIRE', ck, KEEPMS)
  emit(false, 'ended', id, aid, q, node, 'result', 'completed', 'wait_ms', n2s(answered - num(c[5], NOW)),
    'talk_ms', n2s(talk))
  fold_handle_time(q, talk + wrap)
  if wrap > 0 then
    redis.call('HSET', ak, 'state', 'wrap-up', 'since', NOWS, 'call', id, 'queue', q) -- reason '', idle kept
    emit_state(id, aid, q, 'on-call', 'wrap-up')
    redis.call('ZADD', P .. 'wrap', n2s(NOW + wrap), aid)
    return true, 'ended'
  end
  make_available(aid, ak, 'on-call', a[4], a[5], a[6])
  return true, 'ended'
end

-- fast_agent: endwrap (from wrap-up) and ready (from away or wrap-up) of
-- an agent who carries their memberships: available again, and offered
-- the best waiting call by the library's match_agent only when one of the
-- agent's queues has calls waiting. login, away and logout, and anything
-- unusual, are op_agent's.
local function fast_agent(ARGV)
  local op, aid = ARGV[1], ARGV[2]
  if (op ~= 'endwrap' and op ~= 'ready') or not aid then return false end
  local ak = akey(aid)
  local a = redis.call('HMGET', ak, 'state', 'day', 'calls', 'qs')
  local from = a[1]
  if not a[4] or not (from == 'wrap-up' or (op == 'ready' and from == 'away')) then
    return false
  end
  if from == 'wrap-up' then redis.call('ZREM', P .. 'wrap', aid) end
  if make_available(aid, ak, from, a[2], a[3], a[4]) then return true, redis.call('HGET', ak, 'state') end
  return true, 'available'
end

-- fast_dprogress: ARGV agent, call, progress, ttl ms, envelope head, local
-- nodes. The desk bus's setProgress (desk_progress) for the agent's desk,
-- run in the batch after the operation that makes it true (Router's
-- AnswerAndTell, EndAndTell): one round trip for the two. It has no other
-- path.
local function fast_dprogress(ARGV)
  local aid = ARGV[1]
  return true, desk_progress(P .. 'desk:current:' .. aid, P .. 'desk:presence:' .. aid, ARGV[2], ARGV[3], ARGV[4],
    P .. 'node:', ARGV[5], ARGV[6], NOWS)
end
