-- tasknum.policy.audit: the default audit log. One JSON line per attempt,
-- appended to .STATE.audit.jsonl beside the state file (for specs/state.json:
-- specs/.state.json.audit.jsonl), under the lock, so the order of the lines
-- is the order of the allocations. Lines are not fsynced: the state is the
-- record of truth, the log is for people. For a symlinked state the log is
-- beside the real file, like the lock: one log per state, however reached.
--
-- Each line is ONE write(2) on a descriptor opened O_APPEND (core.appendat),
-- so lines written at the same moment (a LOCK_TIMEOUT is logged without
-- the lock) never interleave, whatever their length. The log is opened
-- without following a link and only if it is a regular file with one name
-- (never a FIFO, never a file shared with another name); a new log takes
-- the state's group and mode. A string longer than MAX_STRING bytes (a
-- megabyte purpose) is cut to its first MAX_STRING bytes, at a character
-- boundary, and the line says so: "truncated": {"purpose": 1048576} (the
-- field and its full length in bytes).
--
-- A replacement (audit.lua in a policy folder) returns a table with
-- record(entry, txn); entry is the table to log (see tasknum.txn).
local answer = require "tasknum.answer"
local core = require "tasknum.core"
local fs = require "tasknum.fs"

local M = {}

M.MAX_STRING = 4096

local LOG = ".%s.audit.jsonl"
function M.path(state_path)
  return fs.beside(state_path, LOG)
end

-- cut(s, n) -> the first n bytes of s or fewer, never half a UTF-8 character
local function cut(s, n)
  local i = n
  while i > 0 and ((s:byte(i + 1) or 0) & 0xC0) == 0x80 do i = i - 1 end
  return s:sub(1, i)
end

-- shorten(v, key, cuts) -> v with every string longer than MAX_STRING cut;
-- cuts[key] = the full length of each one cut (nested keys joined by ".")
local function shorten(v, key, cuts)
  if type(v) == "string" and #v > M.MAX_STRING then
    cuts[key] = #v
    return cut(v, M.MAX_STRING)
  elseif type(v) ~= "table" then
    return v
  end
  local copy, changed = {}, false
  for k, x in pairs(v) do
    copy[k] = shorten(x, key and (key .. "." .. tostring(k)) or tostring(k), cuts)
    changed = changed or copy[k] ~= x
  end
  if not changed then return v end
  return setmetatable(copy, getmetatable(v))
end

-- line(entry) -> the JSON line for entry (with its newline), long strings cut
function M.line(entry)
  local cuts = {}
  local e = shorten(entry, nil, cuts)
  if next(cuts) then e.truncated = cuts end -- e is a copy then
  return answer.encode(e) .. "\n"
end

function M.record(entry, txn)
  local real = txn.real or txn.path
  -- M.path(real) as the folder and the name appendat takes: the real
  -- state's, as the step's file authority has them (split once per step)
  local f = txn.file
  local dir, base
  if f and f.real == real then dir, base = f.dir, f.base else dir, base = fs.split(real) end
  local ok, msg = core.appendat(dir, string.format(LOG, base), M.line(entry), real)
  if not ok then return nil, msg end
  return true
end

return M
