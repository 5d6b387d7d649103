-- tasknum.todo (internal): keeps the `next_project_number:` line of a TODO.md front
-- matter in step with the state's counter. Agent systems repeat the counter
-- there and bump it with sed, without a lock; the two drift.
--
-- Every transaction that moves the counter stages the new TODO.md (see
-- Txn:write): it is written durably before the state, whose rename is the
-- step's commit point, and gets its old text back if the state cannot be
-- written. A crash between the two writes leaves TODO.md ahead of the state
-- by the numbers of the interrupted step, none of which was handed out;
-- check() reports it and `tasknum todo` (or the next allocation) repairs it.
local core = require "tasknum.core"
local fs = require "tasknum.fs"
local errors = require "tasknum.errors"

local M = {}

-- counter(text) -> n, start, stop of the number on the front matter's
-- `next_project_number: N` line, or nil when there is none. The front
-- matter is the block between a first line `---` and the next `---`.
-- A number past 64 bits gives false, start, stop, its digits: the line is
-- there (and is replaced like any counter out of step), the value is not.
function M.counter(text)
  local open = text:match("^%-%-%-[ \t]*\r?\n")
  if not open then return nil end
  local pos = #open + 1
  while pos <= #text do
    local stop = text:find("\n", pos, true) or #text + 1
    local line = text:sub(pos, stop - 1)
    if line:match("^%-%-%-[ \t]*\r?$") then return nil end
    local at, digits = line:match("^next_project_number:[ \t]*()(%-?%d+)[ \t]*\r?$") -- a range may go below 0
    if at then
      local s = pos + at - 1
      return math.tointeger(tonumber(digits)) or false, s, s + #digits - 1, digits
    end
    pos = stop + 1
  end
end

-- path(state_path) -> the TODO.md that goes with a state: the one in the
-- same folder (specs/TODO.md, .opencode/specs/TODO.md).
function M.path(state_path)
  return fs.beside(state_path, "TODO.md")
end

-- read(path) -> text and the real path (where it is written), or nil when
-- the file does not exist; raises on any other failure. A TODO.md that is
-- a link is followed only when the link is trusted (its owner is the
-- caller, root or the target's owner: see README Security); a FIFO or a
-- device is refused, never waited on.
local function read(path)
  local trusted, tmsg, terrno = core.trusted(path)
  if not trusted then
    if terrno == core.ENOENT then return nil end
    error(errors.system(tmsg, terrno, "cannot use " .. path), 0)
  end
  -- a link: the real path of the file judged (the link may be swapped after)
  local real = tmsg or core.realpath(path) or path
  local text, msg, errno = core.readfile(real, true)
  if not text then
    if errno == core.ENOENT then return nil end
    error(errors.system(msg, errno, "cannot read " .. path), 0)
  end
  return text, real
end

-- stage(txn [, path]) -> path, or nil when there is nothing to keep in
-- step. Without path, the TODO.md beside the state, if it has the line;
-- a path given explicitly must exist and have it.
function M.stage(txn, path)
  local explicit = path ~= nil
  path = path or M.path(txn.path)
  local text, real = read(path)
  local n, s, e
  if text then n, s, e = M.counter(text) end
  if n == nil then
    if not explicit then return nil end
    txn:fail("INVALID_ARGUMENT", (text and "no next_project_number: line in the front matter of "
      or "no such file: ") .. path)
  end
  -- temp files of a writer killed while replacing it
  local swept, msg, errno = core.sweep(real)
  if not swept then error(errors.system(msg, errno, "cannot sweep the temp files beside " .. path), 0) end
  if n ~= txn.counter then
    txn:stage(real, text:sub(1, s - 1) .. tostring(txn.counter) .. text:sub(e + 1), text)
  end
  return path
end

-- check(state_next, path) -> report {todo_path, todo_next, state_next,
-- in_step, ahead, advice}, or nil when path has no front-matter counter.
-- A counter past 64 bits is out of step, todo_next its digits (a string).
function M.check(state_next, path)
  local text = read(path)
  if not text then return nil end
  local n, _, _, digits = M.counter(text)
  if n == nil then return nil end
  local r = { todo_path = path, todo_next = n or digits, state_next = state_next, in_step = n == state_next }
  if r.in_step then return r end
  if n then
    r.ahead = n > state_next
  else
    r.ahead = digits:sub(1, 1) ~= "-"
  end
  r.advice = (not n and "TODO.md's next_project_number is past what a 64-bit counter holds; "
    or r.ahead and "TODO.md is ahead of the state: a step was interrupted between its two writes "
      .. "and handed out nothing; " or "TODO.md is behind the state; ")
    .. "`tasknum todo` sets it to the state's counter"
  return r
end

return M
