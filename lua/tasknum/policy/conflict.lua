-- tasknum.policy.conflict: the default conflict check. A number that any
-- entry of active_projects holds, whatever its status, is not handed out:
-- the allocation fails with NUMBER_CONFLICT and nothing is written.
--
-- A replacement (conflict.lua in a policy folder) returns a table like this
-- one: pick(txn, count) runs under the lock and returns the numbers to hand
-- out, taking them with txn:take(n), or raises with txn:fail(...).
--
-- This one is data and a message: which entries hold numbers (holds: the
-- array and the field) and how a conflict fails (conflict). A step whose
-- policy picks with this pick (the shipped policy, or a team's that reuses
-- it: tasknum.policy finds it) applies it itself with txn:take_free: the
-- policy is called only to word a conflict.
local M = {}

-- Largest count one call may ask for.
M.max_count = 10

-- The top-level array whose entries hold numbers, and their field.
M.holds = { "active_projects", "project_number" }

-- conflict(txn, numbers, held): fails the step with NUMBER_CONFLICT, naming
-- each of numbers that held (number -> span of its entry) has.
function M.conflict(txn, numbers, held)
  local conflicts = {}
  for _, n in ipairs(numbers) do
    if held[n] then
      local entry = txn:element(held[n])
      conflicts[#conflicts + 1] = { project_number = n,
        project_name = type(entry) == "table" and entry.project_name or nil }
    end
  end
  local names = {}
  for i, c in ipairs(conflicts) do
    names[i] = string.format("%d (%s)", c.project_number, tostring(c.project_name or "?"))
  end
  txn:fail("NUMBER_CONFLICT",
    "number already held by an active project: " .. table.concat(names, ", "),
    "held by " .. table.concat(names, ", ") .. "; archive the finished projects "
      .. "from active_projects, or move next_project_number past them",
    { conflicts = conflicts })
end

local function pick(txn, count)
  return txn:take_free(count, M)
end
M.pick = pick

-- The pick above, whatever a team sets M.pick to: a team that replaces
-- M.pick on this module and returns it has a pick of its own, which the
-- step must call (tasknum.policy compares with this, not with M.pick).
M.shipped_pick = pick

return M
