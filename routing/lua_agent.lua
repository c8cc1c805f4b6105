-- agent: ARGV op (login|ready|away|logout|endwrap), agent id, ready flag or reason.
-- Returns the new state.
local op, aid, arg = ARGV[1], ARGV[2], ARGV[3]
local a = load_agent(aid)
local from = a.state or 'logged-out'
local to, reason
if op == 'login' then
  if from ~= 'logged-out' then fail('conflict', 'Agent ' .. aid .. ' is already logged in (' .. from .. ').') end
  if arg == '1' then to = 'available' else to, reason = 'away', 'not-ready' end
elseif op == 'ready' then
  if from ~= 'away' and from ~= 'wrap-up' then fail('conflict', 'Agent ' .. aid .. ' cannot go ready from ' .. from .. '.') end
  to = 'available'
elseif op == 'away' then
  if from ~= 'available' and from ~= 'wrap-up' and from ~= 'away' then
    fail('conflict', 'Agent ' .. aid .. ' cannot go away from ' .. from .. '.')
  end
  to, reason = 'away', arg
elseif op == 'logout' then
  to = 'logged-out'
elseif op == 'endwrap' then
  if from ~= 'wrap-up' then fail('conflict', 'Agent ' .. aid .. ' is not in wrap-up (' .. from .. ').') end
  to = 'available'
else
  fail('invalid', 'Unknown agent operation ' .. op .. '.')
end
if not can(from, to) then
  fail('conflict', 'Agent ' .. aid .. ' cannot go from ' .. from .. ' to ' .. to .. '.')
end
set_agent(aid, a, to, reason, '', '')
if to == 'available' then match_agent(aid, a) end
return redis.call('HGET', akey(aid), 'state')
