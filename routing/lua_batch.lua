-- batch: runs a list of operations in order, atomically, as one script.
-- ARGV is "name, n, arg1 … argn" per operation. Each operation sees only
-- its own arguments as ARGV and behaves as if it were a script of its own,
-- except that it shares the time, the read caches and the event entry of
-- the batch. The operations in FAST (script.go: answer, enqueue, end,
-- agent, dprogress) try fast_<name> first (lua_fast.lua); every other case runs
-- op_<name> from lib(). A failed operation (fail, or a Redis error) is
-- reported in its slot and does not stop the others.
-- An operation whose name starts with '?' runs only when the one before
-- it succeeded (else its slot says conflict): a step that follows from
-- another, sent with it (Router.AnswerAndTell).
-- Returns one {1, result} or {0, 'code message'} per operation.
local out = {}
local i = 1
local prev_ok = true
while i <= #ARGV do
  local name, n = ARGV[i], tonumber(ARGV[i + 1]) or 0
  local args = {}
  for j = 1, n do args[j] = ARGV[i + 1 + j] end
  i = i + 2 + n
  local cond = string.sub(name, 1, 1) == '?'
  if cond then name = string.sub(name, 2) end
  local ok, done, res = true, false, nil
  if cond and not prev_ok then
    ok, res = false, 'conflict Not run: the operation before it failed.'
  else
    local f = FAST[name]
    if f then ok, done, res = pcall(f, args) end
    if ok and not done then
      local op = lib().OPS[name]
      if op then
        ok, res = pcall(op, args)
      else
        ok, res = false, {err = 'invalid Unknown routing operation ' .. tostring(name) .. '.'}
      end
    elseif not ok then
      res = done
    end
  end
  prev_ok = ok
  if ok then
    if res == nil then res = '' end
    out[#out + 1] = {1, res}
  else
    if type(res) == 'table' then res = res.err end
    out[#out + 1] = {0, tostring(res)}
  end
end
flush()
return out
