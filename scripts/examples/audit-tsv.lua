-- audit-tsv.lua: an audit policy that also keeps a log of the team's own,
-- one tab-separated line per attempt (time, status, error code, numbers,
-- user, purpose) in $TASKNUM_AUDIT_FILE, else allocations.tsv beside this
-- file, then writes the shipped JSON log as well. Install it:
--   cp audit-tsv.lua .opencode/tasknum/audit.lua
-- It runs under the lock after the state is written: returning nil, why
-- (or raising) does not undo the allocation; the answer says audit_error.
local default = require "tasknum.policy.audit"
local json = require "tasknum.json"

local M = {}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local function field(v)
  if v == nil or v == json.null then return "-" end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = tostring(x) end
    return #parts > 0 and table.concat(parts, ",") or "-"
  end
  return (tostring(v):gsub("%s", " "))
end

function M.record(entry, txn)
  local path = os.getenv("TASKNUM_AUDIT_FILE") or (here .. "/allocations.tsv")
  local f, msg = io.open(path, "ab")
  if not f then return nil, msg end
  f:write(table.concat({ field(entry.timestamp), field(entry.status), field(entry.error_code),
    field(entry.numbers), field(entry.user), field(entry.purpose) }, "\t"), "\n")
  local ok, why = f:close()
  if not ok then return nil, why end
  return default.record(entry, txn)
end

return M
