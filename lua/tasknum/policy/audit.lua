-- tasknum.policy.audit: the default audit log. One JSON line per attempt,
-- appended to .STATE.audit.jsonl beside the state file (for specs/state.json:
-- specs/.state.json.audit.jsonl), under the lock, so the order of the lines
-- is the order of the allocations. Lines are not fsynced: the state is the
-- record of truth, the log is for people. For a symlinked state the log is
-- beside the real file, like the lock: one log per state, however reached.
--
-- A replacement (audit.lua in a policy folder) returns a table with
-- record(entry, txn); entry is the table to log (see tasknum.txn).
local json = require "tasknum.json"

local M = {}

function M.path(state_path)
  local dir, base = state_path:match("^(.*)/([^/]*)$")
  return dir .. "/." .. base .. ".audit.jsonl"
end

function M.record(entry, txn)
  local path = M.path(txn.real or txn.path)
  local f, msg = io.open(path, "ab")
  if not f then return nil, msg end
  local ok, werr = f:write(json.encode(entry), "\n")
  local closed, cerr = f:close()
  if not ok or not closed then return nil, path .. ": " .. tostring(werr or cerr) end
  return true
end

return M
