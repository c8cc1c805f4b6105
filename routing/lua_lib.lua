-- Common prelude of every routing script. Go prepends the generated
-- constants (TRANS, MAXEV, MAXINBOX, KEEPMS, REQUIRE_DESK) and appends one
-- script body; each script gets only the definitions it uses (script.go).
--
-- KEYS[1] is the site's event stream "rd:{site}:events"; every other key is
-- derived from its prefix "rd:{site}:" and so hashes to the same slot.
local P = string.sub(KEYS[1], 1, -7)
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local TS = 1e13 -- score band: enqueue/idle times in ms stay below it
local SCAN = 20 -- waiting calls looked at when a queue's head is not eligible

-- NOWS is NOW as a string; n2s formats a number as an integer string.
-- Both are on every path: formatting a double (%.0f, tostring) costs
-- twice an integer's %d.
local NOWS = string.format('%d', NOW)
local function n2s(n)
  if n % 1 == 0 and n > -2 ^ 53 and n < 2 ^ 53 then return string.format('%d', n) end
  return string.format('%.0f', n)
end
local flush -- defined with emit below
-- fail ends the operation with an error reply 'code message'. Events it
-- emitted before are still written (by the caller's flush), as whatever
-- it did stays done; the checks fail before any write.
local function fail(code, msg)
  error({err = code .. ' ' .. msg})
end
local function num(s, d) return tonumber(s or '') or d end
local function ckey(id) return P .. 'c:' .. id end
local function akey(id) return P .. 'a:' .. id end
local function qkey(q, suffix) return P .. 'q:' .. q .. suffix end

-- A queue's config, read once per script run (a batch shares it) and
-- kept: putqueue, the only writer, runs as a script of its own. A missing
-- field reads as false; putqueue writes every field, so a queue exists
-- when its strategy is set.
local QC = {}
local function qcfg(q)
  local c = QC[q]
  if c == nil then
    local r = redis.call('HMGET', qkey(q, ''), 'strategy', 'ring', 'wrap', 'maxwait', 'widen', 'maxlen', 'of_kind',
      'of_queue', 'missed', 'min_tier')
    -- A constructor sizes the table once; filling an empty one rehashes it
    -- at every power of two.
    c = {strategy = r[1], ring = r[2], wrap = r[3], maxwait = r[4], widen = r[5], maxlen = r[6], of_kind = r[7],
      of_queue = r[8], missed = r[9], min_tier = r[10]}
    QC[q] = c
  end
  return c
end
-- cfgnum is num(c[k], d) for a queue config c that parses the field once
-- per run, on first use, and keeps the number (false if none): tonumber of
-- a string (strtod) costs more than most commands. num() reads the kept
-- value too.
local function cfgnum(c, k, d)
  local v = c[k]
  if type(v) == 'string' then
    v = tonumber(v) or false
    c[k] = v
  end
  return v or d
end

-- A queue's statistics (rr_last: round-robin memory; aht, handled: the
-- handle time average) are read once per run and written once, by flush,
-- however many operations of a batch changed them. They are kept as
-- numbers (nil when not set) and formatted by flush.
local QS, QSDIRTY = {}, {}
local function qstats(q)
  local t = QS[q]
  if t == nil then
    local r = redis.call('HMGET', qkey(q, ':st'), 'rr_last', 'aht', 'handled')
    t = {rr_last = tonumber(r[1]), aht = tonumber(r[2]), handled = tonumber(r[3])}
    QS[q] = t
  end
  return t
end
local function qstats_set(q, k, v)
  qstats(q)[k] = v
  QSDIRTY[q] = true
end

-- fold_handle_time counts a handled call in q's statistics and folds its
-- handle time (talk + wrap-up, ms) into the queue's average (a moving
-- average over the last 50 calls).
local function fold_handle_time(q, ms)
  local st = qstats(q)
  local handled = (st.handled or 0) + 1
  local aht = st.aht or 0
  qstats_set(q, 'handled', handled)
  -- Whole milliseconds, as stored: a batch folds as one run per call would.
  qstats_set(q, 'aht', math.floor(aht + (ms - aht) / math.min(handled, 50) + 0.5))
end

local NOTICE_KINDS = {['offer'] = true, ['ring-no-answer'] = true, ['overflow'] = true, ['ended'] = true,
  ['requeued'] = true}
-- Events are gathered while a script runs and written by flush as one
-- stream entry per script (plus one per notified node): a script emits
-- three events on average, and each XADD with its dozen fields costs more
-- inside Lua than the rest of the script's work. An entry holds t (ms) and
-- e, a JSON array of events [kind, call, agent, queue, node, k1, v1, ...];
-- an agent's state change, the most frequent, is written shorter by
-- emit_state.
local EV, NT = {}, {}
-- emit records an event for the site stream and, when notice is true, for
-- the owning node's inbox too. Its arguments after notice are the event:
-- kind, call, agent, queue, node (nil reads as ''), then key, value pairs
-- (strings, none nil).
local function emit(notice, ...)
  local e = {...}
  for i = 2, 5 do
    if e[i] == nil then e[i] = '' end
  end
  EV[#EV + 1] = e
  local node = e[5]
  if notice and node ~= '' and NOTICE_KINDS[e[1]] then
    local t = NT[node]
    if not t then
      t = {}
      NT[node] = t
    end
    t[#t + 1] = e
  end
end
-- emit_state records an agent's move from one state to another (with the
-- call and queue it concerns, '' if none) as ["as", call, agent, queue,
-- from, to(, reason)]: half the strings of the general form, which
-- encoding costs by the string. It is read as the event agent-state with
-- the fields from, state and reason (parseEntry in event.go).
local function emit_state(call, agent, q, from, to, reason)
  if reason == '' then reason = nil end
  -- As emit: nil reads as '' (a hole would make cjson see a sparse array).
  EV[#EV + 1] = {'as', call or '', agent, q or '', from, to, reason}
end
flush = function()
  if #EV > 0 then
    local ev = EV
    EV = {}
    local t = NOWS
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', MAXEV, '*', 't', t, 'e', cjson.encode(ev))
    for node, evs in pairs(NT) do
      redis.call('XADD', P .. 'n:' .. node .. ':inbox', 'MAXLEN', '~', MAXINBOX, '*', 't', t, 'e', cjson.encode(evs))
    end
    NT = {}
  end
  for q in pairs(QSDIRTY) do
    local t = QS[q]
    local f = {'HSET', qkey(q, ':st')}
    for _, k in ipairs({'rr_last', 'aht', 'handled'}) do
      if t[k] then
        f[#f + 1] = k
        f[#f + 1] = n2s(t[k])
      end
    end
    if #f > 2 then redis.call(unpack(f)) end
  end
  QSDIRTY = {}
end

-- NOWAIT[q] is set once a read found nobody waiting in q, until a call is
-- added there: in a batch where agents keep freeing up (calls end), only
-- the first looks at an empty queue.
local NOWAIT = {}

-- agent_queues returns the agent's memberships as {queue, tier, pos}, from
-- the agent's qs field ("tier:pos:queue,…", kept by putqueue beside the
-- a:<id>:q hash so that loading an agent reads them too). An agent whose
-- memberships were set before qs existed has none: read the hash then.
local AQ = {}
local function agent_queues(id, a)
  local s = a and a.qs
  if not s then
    local r = redis.call('HGETALL', akey(id) .. ':q')
    local t = {}
    for i = 1, #r, 2 do t[#t + 1] = r[i + 1] .. ':' .. r[i] end
    s = table.concat(t, ',')
  end
  local t = AQ[s]
  if t then return t end
  t = {}
  for tier, pos, q in string.gmatch(s, '(%d+):(%d+):([^,]+)') do
    t[#t + 1] = {q, tonumber(tier), tonumber(pos)}
  end
  AQ[s] = t
  return t
end

local function calls_today(a)
  if num(a.day, -1) ~= math.floor(NOW / 86400000) then return 0 end
  return num(a.calls, 0)
end

-- ascore is the agent's score in a queue's available set: lowest is
-- offered first. Mirrors routing.AgentScore.
local function ascore(strategy, tier, pos, calls, idle)
  if strategy == 'round-robin' then return pos end
  if strategy == 'fewest-calls' then return math.min(calls, 800) * TS + idle end
  if strategy == 'skills' then return math.min(tier, 800) * TS + idle end
  return idle
end

-- forget_desk_call drops the call an agent's desk would be shown again on
-- reconnecting (the desk bus's desk:current:<agent>, same hash tag): the
-- agent is done with it once available, away or logged out, however that
-- came about (a desk command, the wrap-up timer, a queue without wrap-up,
-- ring-no-answer).
local function forget_desk_call(id) redis.call('DEL', P .. 'desk:current:' .. id) end

-- Everything above is on the path of every batch run; everything below is
-- what the batch script builds only when an operation needs it (@lazy: see
-- script.go), as a run pays for every closure it creates.
-- @lazy

-- can says whether the agent state machine allows from -> to (TRANS is
-- from -> to -> true, rendered from ringdesk.AgentTransitions). The fast
-- paths (lua_fast.lua) do not ask: the moves they make are checked once,
-- in Go, when the script is built (fastMoves in script.go).
local function can(from, to)
  local t = TRANS[from]
  return t ~= nil and t[to] == true
end

-- split returns the comma-separated items of s. The lists are read only
-- and a script splits the same queue list several times: memoized.
local SPLIT = {}
local function split(s)
  s = s or ''
  local t = SPLIT[s]
  if t then return t end
  t = {}
  for x in string.gmatch(s, '[^,]+') do t[#t + 1] = x end
  SPLIT[s] = t
  return t
end
-- hmget reads the named fields of a hash into a table (missing fields stay
-- nil). Cheaper than HGETALL: only the fields a script uses become Lua
-- strings, which is most of a script's cost.
local function hmget(k, fields)
  local r = redis.call('HMGET', k, unpack(fields))
  local t = {}
  for i = 1, #fields do
    if r[i] then t[fields[i]] = r[i] end
  end
  return t
end
-- A call's hash holds only what cannot be derived: its waiting score
-- comes from prio and enq (cscore), qenq (when it entered its current
-- queues) is written only once it differs from enq, hops and offers only
-- once they are not 0. Every field written is an argument converted,
-- stored and appended to the AOF.
local CALL_FIELDS = {'state', 'agent', 'queue', 'queues', 'node', 'enq', 'qenq', 'prio', 'hops', 'offers',
  'answered', 'caller'}
-- The agent fields the scripts read (set_agent writes reason, since and
-- queue without comparing: reading a field costs more than writing it).
local AGENT_FIELDS = {'state', 'call', 'idle', 'day', 'calls', 'qs'}
-- load_call reads a call; fields (default CALL_FIELDS) narrows the read to
-- what a script uses: every field read becomes a Lua string.
local function load_call(id, fields) return hmget(ckey(id), fields or CALL_FIELDS) end

-- Agents ---------------------------------------------------------------




local function avail_add_one(id, a, q, tier, pos)
  local c = qcfg(q)
  redis.call('ZADD', qkey(q, ':avail'), n2s(ascore(c.strategy, tier, pos, calls_today(a), num(a.idle, 0))), id)
end

local function load_agent(id) return hmget(akey(id), AGENT_FIELDS) end

-- set_agent moves an agent to a new state, keeping every index in step.
-- Callers have checked the transition; it is asserted here before writing.
local function set_agent(id, a, to, reason, call, q, keep_idle)
  local from = a.state or 'logged-out'
  if not can(from, to) then
    fail('conflict', 'Agent ' .. id .. ' cannot go from ' .. from .. ' to ' .. to .. '.')
  end
  -- Only moves into or out of available and logged-out touch the
  -- per-queue indexes: skip reading the memberships otherwise.
  local qs
  if from == 'available' or to == 'available' or from == 'logged-out' or to == 'logged-out' then
    qs = agent_queues(id, a)
    if from == 'available' then
      for _, m in ipairs(qs) do redis.call('ZREM', qkey(m[1], ':avail'), id) end
    elseif from == 'logged-out' then
      redis.call('SADD', P .. 'agents', id)
      for _, m in ipairs(qs) do redis.call('SADD', qkey(m[1], ':in'), id) end
    end
    if to == 'logged-out' then
      for _, m in ipairs(qs) do redis.call('SREM', qkey(m[1], ':in'), id) end
    end
  end
  if from == 'wrap-up' then redis.call('ZREM', P .. 'wrap', id) end
  reason, call, q = reason or '', call or '', q or ''
  a.state, a.reason, a.call, a.queue = to, reason, call, q
  if to == 'available' and not (keep_idle and a.idle) then a.idle = NOWS end
  -- One HSET of every field set_agent owns, changed or not: building a
  -- list of only the changed ones costs more than writing them. An agent
  -- without an idle time gets 0 written but keeps nil: not an idle time.
  redis.call('HSET', akey(id), 'state', to, 'reason', reason, 'since', NOWS, 'call', call, 'queue', q,
    'idle', a.idle or '0')
  if to == 'available' then
    for _, m in ipairs(qs) do avail_add_one(id, a, m[1], m[2], m[3]) end
  end
  if to == 'available' or to == 'away' or to == 'logged-out' then forget_desk_call(id) end
  emit_state(call, id, q, from, to, reason)
end

-- Calls ----------------------------------------------------------------


-- cscore is a waiting call's score: (99 − priority)·10¹³ + enqueue ms, so
-- that ZRANK is its position (priority first, then age).
local function cscore(c) return n2s((99 - num(c.prio, 0)) * TS + num(c.enq, NOW)) end

local function wait_add(id, c)
  local score = cscore(c)
  for _, q in ipairs(split(c.queues)) do
    NOWAIT[q] = nil
    redis.call('ZADD', qkey(q, ':wait'), score, id)
    redis.call('ZADD', qkey(q, ':age'), c.enq, id)
  end
  local prim = split(c.queues)[1]
  local mw = num(qcfg(prim).maxwait, 0)
  if mw > 0 then redis.call('ZADD', P .. 'deadline', n2s(num(c.qenq or c.enq, NOW) + mw), id) end
end

local function wait_rem(id, c)
  for _, q in ipairs(split(c.queues)) do
    redis.call('ZREM', qkey(q, ':wait'), id)
    redis.call('ZREM', qkey(q, ':age'), id)
  end
  redis.call('ZREM', P .. 'deadline', id)
end

local function position(id, c)
  local best = nil
  for _, q in ipairs(split(c.queues)) do
    local r = redis.call('ZRANK', qkey(q, ':wait'), id)
    if r and (best == nil or r < best) then best = r end
  end
  if best == nil then return 0 end
  return best + 1
end

local function end_call(id, c, result, fields, notice)
  if c.state == 'waiting' then wait_rem(id, c) end
  if c.state == 'ringing' then redis.call('ZREM', P .. 'ring', id) end
  redis.call('SREM', P .. 'n:' .. c.node .. ':calls', id)
  c.state = 'ended'
  redis.call('HSET', ckey(id), 'state', 'ended', 'result', result, 'ended', NOWS)
  redis.call('PEXPIRE', ckey(id), KEEPMS)
  local q = c.queue ~= '' and c.queue or split(c.queues)[1]
  local wait = n2s(num(c.answered, NOW) - num(c.enq, NOW))
  if fields then
    emit(notice, 'ended', id, c.agent, q, c.node, 'result', result, 'wait_ms', wait, fields[1], fields[2])
  else
    emit(notice, 'ended', id, c.agent, q, c.node, 'result', result, 'wait_ms', wait)
  end
end

local function max_tier(cfg, c)
  local widen = num(cfg.widen, 0)
  if widen <= 0 then return 1e9 end
  return num(cfg.min_tier, 0) + math.floor((NOW - num(c.enq, NOW)) / widen)
end

local function member_pos(q, aid)
  local v = redis.call('HGET', qkey(q, ':m'), aid)
  if not v then return 0 end
  local _, pos = string.match(v, '^(%d+):(%d+)$')
  return tonumber(pos)
end

local function reserve(id, c, aid, a, q, cfg)
  if not c.unqueued then wait_rem(id, c) end
  local ring = num(cfg.ring, 20000)
  c.state = 'ringing'
  c.agent = aid
  c.queue = q
  c.offers = num(c.offers, 0) + 1
  c.offered = NOWS
  -- A call matched inside enqueue is not written yet: enqueue writes it
  -- once, with these fields, after the match.
  if not c.fresh then
    redis.call('HSET', ckey(id), 'state', 'ringing', 'agent', aid, 'queue', q,
      'offered', c.offered, 'offers', n2s(c.offers))
  end
  redis.call('ZADD', P .. 'ring', n2s(NOW + ring), id)
  if cfg.strategy == 'round-robin' then
    qstats_set(q, 'rr_last', member_pos(q, aid))
  end
  set_agent(aid, a, 'ringing', '', id, q)
  -- c.replied: the enqueue offering it answers with the agent, and its
  -- caller owns the call (Config.OfferInReply): no notice as well.
  emit(not c.replied, 'offer', id, aid, q, c.node, 'wait_ms', n2s(NOW - num(c.enq, NOW)), 'ring_ms', n2s(ring),
    'attempt', n2s(c.offers))
end

-- write_call stores a new call (enqueue). A call matched at once is
-- written once, already ringing, instead of twice (see reserve).
local function write_call(id, c)
  if c.offered then
    redis.call('HSET', ckey(id), 'queues', c.queues, 'prio', c.prio, 'enq', c.enq, 'node', c.node,
      'caller', c.caller, 'state', c.state, 'agent', c.agent, 'queue', c.queue, 'offered', c.offered,
      'offers', n2s(c.offers))
  else
    redis.call('HSET', ckey(id), 'queues', c.queues, 'prio', c.prio, 'enq', c.enq, 'node', c.node,
      'caller', c.caller, 'state', c.state, 'agent', c.agent, 'queue', c.queue)
  end
end

-- PICK is how many available agents a match tries in order: only more
-- than one when the first ones cannot take the call (a stale entry, or an
-- agent without a desk when REQUIRE_DESK is set).
local PICK = 8

-- pick_agent returns the queue's available agent that the queue's
-- strategy offers the call to first, or nil. Only the head is read: an
-- agent that cannot take the call leaves the available set (see
-- match_call), so reading the head again gives the next in order.
local function pick_agent(q, cfg, c)
  local k = qkey(q, ':avail')
  if cfg.strategy == 'round-robin' then
    local last = num(qstats(q).rr_last, -1)
    local r = redis.call('ZRANGEBYSCORE', k, '(' .. n2s(last), '+inf', 'LIMIT', 0, 1)
    if #r == 0 then r = redis.call('ZRANGE', k, 0, 0) end
    return r[1]
  end
  if cfg.strategy == 'skills' then
    local mt = max_tier(cfg, c)
    if mt < 1e9 then
      return redis.call('ZRANGEBYSCORE', k, '-inf', '(' .. n2s((mt + 1) * TS), 'LIMIT', 0, 1)[1]
    end
  end
  return redis.call('ZRANGE', k, 0, 0)[1]
end

-- desk_ok says whether an available agent may be offered a call. With
-- REQUIRE_DESK, only while a desk of theirs is connected to some node (the
-- agent desk's presence set, scored by expiry), so that no call rings where
-- nobody sees who is calling; an agent found without one goes away with
-- reason no-desk (out of every queue's available set, visible to
-- supervisors) until the desk is back and says ready.
local function desk_ok(aid, a)
  if not REQUIRE_DESK then return true end
  if redis.call('ZCOUNT', P .. 'desk:presence:' .. aid, NOW, '+inf') > 0 then return true end
  set_agent(aid, a, 'away', 'no-desk', '', '')
  return false
end

-- match_call offers a waiting call to the first of its queues that has an
-- eligible available agent. Returns the agent id or nil.
local function match_call(id, c)
  if c.state ~= 'waiting' then return nil end
  for _, q in ipairs(split(c.queues)) do
    local cfg = qcfg(q)
    for _ = 1, PICK do
      local aid = pick_agent(q, cfg, c)
      if not aid then break end
      local a = load_agent(aid)
      if a.state ~= 'available' then
        -- A stale index entry (an agent that is not available) would make
        -- reserve fail after it has written: drop it. The invariant checks
        -- in the tests never see one; this keeps a bug or a hand edit from
        -- wedging a queue.
        redis.call('ZREM', qkey(q, ':avail'), aid)
      elseif desk_ok(aid, a) then
        reserve(id, c, aid, a, q, cfg)
        return aid
      end
    end
  end
  return nil
end

-- match_agent offers an available agent the best call (priority, then age)
-- waiting in any of the agent's queues that the agent is eligible for.
-- Pass a only when it was just written by set_agent: otherwise the agent
-- is read again, as a table the caller holds may be stale when the same
-- script already reserved the agent (for instance after a release).
local function match_agent(aid, a)
  a = a or load_agent(aid)
  if a.state ~= 'available' then return nil end
  local best, bestscore, bestq
  for _, m in ipairs(agent_queues(aid, a)) do
    local q = m[1]
    local cfg = qcfg(q)
    local k = qkey(q, ':wait')
    local need = 0
    if cfg.strategy == 'skills' and num(cfg.widen, 0) > 0 then
      need = (m[2] - num(cfg.min_tier, 0)) * num(cfg.widen, 0)
    end
    local n = SCAN
    if need <= 0 then n = 1 end
    local r = {}
    if not NOWAIT[q] then
      r = redis.call('ZRANGE', k, 0, n - 1, 'WITHSCORES')
      if #r == 0 then NOWAIT[q] = true end
    end
    for i = 1, #r, 2 do
      local sc = tonumber(r[i + 1])
      local enq = sc - math.floor(sc / TS) * TS
      if NOW - enq >= need then
        if bestscore == nil or sc < bestscore then best, bestscore, bestq = r[i], sc, q end
        break
      end
    end
  end
  if best then
    local c = load_call(best)
    if c.state ~= 'waiting' then -- stale entry: drop it (see match_call)
      redis.call('ZREM', qkey(bestq, ':wait'), best)
      redis.call('ZREM', qkey(bestq, ':age'), best)
      return nil
    end
    if not desk_ok(aid, a) then return nil end
    reserve(best, c, aid, a, bestq, qcfg(bestq))
    return best
  end
  return nil
end

-- release_agent frees an agent reserved for a call that went away.
local function release_agent(aid, id)
  if not aid or aid == '' then return nil end
  local a = load_agent(aid)
  if a.state == 'ringing' and a.call == id then
    set_agent(aid, a, 'available', '', '', '', true)
    return a
  end
  return nil
end

local function logged_in(c)
  for _, q in ipairs(split(c.queues)) do
    if redis.call('SCARD', qkey(q, ':in')) > 0 then return true end
  end
  return false
end

-- overflow applies the first queue's overflow to a call. Returns 'queue',
-- 'callback', 'timeout' or nil when there is nothing to do.
local function overflow(id, c, reason, notice)
  local prim = split(c.queues)[1]
  local cfg = qcfg(prim)
  local kind = cfg.of_kind or ''
  local hops = num(c.hops, 0)
  if kind == 'queue' and hops < 5 and redis.call('EXISTS', qkey(cfg.of_queue, '')) == 1 then
    if c.state == 'waiting' then wait_rem(id, c) end
    c.queues = cfg.of_queue
    c.qenq = NOWS
    c.hops = hops + 1
    c.state = 'waiting'
    redis.call('HSET', ckey(id), 'queues', c.queues, 'qenq', c.qenq, 'hops', n2s(c.hops), 'state', 'waiting')
    wait_add(id, c)
    emit(notice, 'overflow', id, '', prim, c.node, 'reason', reason, 'to', c.queues)
    return 'queue'
  end
  if kind == 'callback' then
    emit(notice, 'overflow', id, '', prim, c.node, 'reason', reason, 'result', 'callback', 'caller', c.caller or '')
    end_call(id, c, 'callback', nil, notice)
    return 'callback'
  end
  if reason == 'max-wait' then
    emit(notice, 'overflow', id, '', prim, c.node, 'reason', reason, 'result', 'timeout')
    end_call(id, c, 'timeout', nil, notice)
    return 'timeout'
  end
  return nil
end

-- sweep_queue matches waiting calls with available agents in one queue
-- until no pair is left or the budget is spent (tier widening makes pairs
-- appear with time alone).
local function sweep_queue(q, budget)
  local n = 0
  while n < budget do
    if redis.call('ZCARD', qkey(q, ':avail')) == 0 then break end
    local r = redis.call('ZRANGE', qkey(q, ':wait'), 0, SCAN - 1)
    local matched = false
    for _, id in ipairs(r) do
      local c = load_call(id)
      if match_call(id, c) then
        matched = true
        break
      end
    end
    if not matched then break end
    n = n + 1
  end
  return n
end

-- rna releases a ringing reservation: the call goes back to its queues
-- with its original score (ahead of every later call of its priority), the
-- agent to away/missed-call or available as the queue says.
local function rna(id, c, reason, notice)
  local aid, q = c.agent, c.queue
  local cfg = qcfg(q)
  redis.call('ZREM', P .. 'ring', id)
  c.state, c.agent, c.queue = 'waiting', '', ''
  redis.call('HSET', ckey(id), 'state', 'waiting', 'agent', '', 'queue', '')
  wait_add(id, c)
  emit(notice, 'ring-no-answer', id, aid, q, c.node, 'reason', reason)
  local a = load_agent(aid)
  local freed = false
  if a.state == 'ringing' and a.call == id then
    if cfg.missed == '1' then
      set_agent(aid, a, 'away', 'missed-call', '', '')
    else
      set_agent(aid, a, 'available', '', '', '')
      freed = true
    end
  end
  match_call(id, c)
  if freed then match_agent(aid) end
end

-- finish_agent moves the agent of an ended answered call to wrap-up (or
-- straight to available) and folds the handle time into the queue's AHT.
local function finish_agent(id, c, talk)
  local aid, q = c.agent, c.queue
  local cfg = qcfg(q)
  local wrap = num(cfg.wrap, 0)
  fold_handle_time(q, talk + wrap)
  local a = load_agent(aid)
  if a.state ~= 'on-call' or a.call ~= id then return end
  if wrap > 0 then
    set_agent(aid, a, 'wrap-up', '', id, q)
    redis.call('ZADD', P .. 'wrap', n2s(NOW + wrap), aid)
  else
    set_agent(aid, a, 'available', '', '', '')
    match_agent(aid, a)
  end
end

-- lose_call ends a call whose owning node is gone (result node-lost) and
-- frees its agent: a ringing agent is available again, an answering one
-- goes to wrap-up.
local function lose_call(id, c, from_node)
  local aid, was = c.agent, c.state
  local talk = NOW - num(c.answered, NOW)
  end_call(id, c, 'node-lost', {'from_node', from_node}, false)
  if was == 'ringing' then
    local a = release_agent(aid, id)
    if a then match_agent(aid) end
  elseif was == 'on-call' then
    finish_agent(id, c, talk)
  end
end

-- Script body follows.
