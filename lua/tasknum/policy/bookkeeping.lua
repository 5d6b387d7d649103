-- tasknum.policy.bookkeeping: what else changes in the state when
-- `tasknum add-task` adds a task, in the same write. Real /task commands
-- keep a few members in step with active_projects; this keeps those that
-- the state already has, and adds none:
--
--   last_updated, _last_updated       (top level, strings) the task's created time
--   metadata.total_tasks              (an integer) + 1
--   task_counts.total, task_counts.active, task_counts.<status>
--                                     (integers) + 1 each, status the new task's
--   the entry's own last_updated      added (= created) when the entry it goes
--                                     before has one
--
-- A member that is missing, or not of that type, is left alone. A team
-- replaces this by dropping bookkeeping.lua into its policy folder: a table
-- with added(txn, task) -> list of what it changed (paths as "a.b"). task:
-- number, name, status, created (UTC, "2026-03-24T19:43:30Z"), and members,
-- the entry's {key, value} list, not yet in the state (added() may append
-- to it). It runs under the lock after the number is picked; it edits with
-- tasknum.edit (the state's other bytes stay), and raising writes nothing.
-- `add-task --no-bookkeeping` (Lua: bookkeeping = false) skips it.
--
-- M.merge: how `tasknum merge` (git's merge driver) settles these members
-- when both branches changed them, as they do whenever both added a task:
-- "latest", the later of two timestamps of one shape; "sum", base plus
-- both branches' changes. Keys are member paths ("a.b"; "a.*": any member
-- of a). Any other member changed on both branches is merged line by line.
local core = require "tasknum.core"
local edit = require "tasknum.edit"

local M = {}

M.merge = {
  last_updated = "latest", _last_updated = "latest",
  ["metadata.total_tasks"] = "sum", ["task_counts.*"] = "sum",
}

-- The span of the value at path, when it is of that JSON kind.
local function value_at(txn, path, first)
  local s, e = txn:span(table.unpack(path))
  if s and (first == nil or txn.text:sub(s, s) == first) then return s, e end
end

-- Moves the plain integer at path up by one.
local function bump(txn, path, changed)
  local s, e = value_at(txn, path)
  local n = s and core.integer(txn.text, s, e)
  if math.type(n) == "integer" then
    edit.set(txn, path, n + 1)
    changed[#changed + 1] = table.concat(path, ".")
  end
end

local function has(members, key)
  for _, m in ipairs(members) do
    if m[1] == key then return true end
  end
end

-- Whether the first entry of active_projects has member key.
local function neighbour_has(txn, key)
  local s, e = value_at(txn, { "active_projects" }, "[")
  local spans = s and core.elements(txn.text, s, e)
  if not spans or not spans[1] or txn.text:sub(spans[1], spans[1]) ~= "{" then return false end
  return core.member(txn.text, spans[1], spans[2], key) ~= nil
end

function M.added(txn, task)
  local changed = {}
  if not has(task.members, "last_updated") and neighbour_has(txn, "last_updated") then
    task.members[#task.members + 1] = { "last_updated", task.created }
  end
  for _, key in ipairs { "last_updated", "_last_updated" } do
    if value_at(txn, { key }, '"') then
      edit.set(txn, key, task.created)
      changed[#changed + 1] = key
    end
  end
  bump(txn, { "metadata", "total_tasks" }, changed)
  local counts = { "total", "active" }
  if type(task.status) == "string" and task.status ~= "total" and task.status ~= "active" then
    counts[3] = task.status
  end
  for _, key in ipairs(counts) do bump(txn, { "task_counts", key }, changed) end
  return changed
end

return M
