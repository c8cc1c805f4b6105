-- batch: runs a list of operations in order, atomically, as one script.
-- ARGV is "name, n, arg1 … argn" per operation. Each operation's body is
-- an op_<name>(ARGV) function before this (script.go); it sees only its
-- own arguments as ARGV and behaves as if it were a script of its own,
-- except that it shares the time, the read caches and the event entry of
-- the batch. A failed operation (fail, or a Redis error) is reported in its
-- slot and does not stop the others.
-- Returns one {1, result} or {0, 'code message'} per operation.
local OPS = {['agent'] = op_agent, ['enqueue'] = op_enqueue, ['answer'] = op_answer, ['rna'] = op_rna,
  ['abandon'] = op_abandon, ['end'] = op_end}
local out = {}
local i = 1
while i <= #ARGV do
  local name, n = ARGV[i], tonumber(ARGV[i + 1]) or 0
  local args = {}
  for j = 1, n do args[j] = ARGV[i + 1 + j] end
  i = i + 2 + n
  local f = OPS[name]
  local ok, res
  if f then
    ok, res = pcall(f, args)
  else
    ok, res = false, {err = 'invalid Unknown routing operation ' .. tostring(name) .. '.'}
  end
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
