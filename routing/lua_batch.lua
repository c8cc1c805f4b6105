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
-- Returns a flat list, two slots per operation: 1, result or 0, 'code
-- message'. Flat, because Redis probes every table of a script's reply for
-- seven special fields (err, ok, double, …) before it reads it as an array.
local out = {}
local k = 0
local i = 1
local prev_ok = true
while i <= #ARGV do
  local name, n = ARGV[i], tonumber(ARGV[i + 1]) or 0
  local args = {unpack(ARGV, i + 2, i + 1 + n)} -- sized at once: growing a table rehashes it
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
    out[k + 1], out[k + 2] = 1, res
  else
    if type(res) == 'table' then res = res.err end
    out[k + 1], out[k + 2] = 0, tostring(res)
  end
  k = k + 2
end
flush()
return out
