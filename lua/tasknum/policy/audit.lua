-- tasknum.policy.audit: the default audit log. One JSON line per attempt,
-- appended to .STATE.audit.jsonl beside the state file (for specs/state.json:
-- specs/.state.json.audit.jsonl), under the lock, so the order of the lines
-- is the order of the allocations. Lines are not fsynced: the state is the
-- record of truth, the log is for people. For a symlinked state the log is
-- beside the real file, like the lock: one log per state, however reached.
--
-- A replacement (audit.lua in a policy folder) returns a table with
-- record(entry, txn); entry is the table to log (see tasknum.txn).
local answer = require "tasknum.answer"
local fs = require "tasknum.fs"

local M = {}

function M.path(state_path)
  return fs.beside(state_path, ".%s.audit.jsonl")
end

function M.record(entry, txn)
  local log = M.path(txn.real or txn.path)
  local f, msg = io.open(log, "ab")
  if not f then return nil, msg end
  local ok, werr = f:write(answer.encode(entry), "\n")
  local closed, cerr = f:close()
  if not ok or not closed then return nil, log .. ": " .. tostring(werr or cerr) end
  return true
end

return M
