-- tasknum.policy.conflict: the default conflict check. A number that any
-- entry of active_projects holds, whatever its status, is not handed out:
-- the allocation fails with NUMBER_CONFLICT and nothing is written.
--
-- A replacement (conflict.lua in a policy folder) returns a table like this
-- one: pick(txn, count) runs under the lock and returns the numbers to hand
-- out, taking them with txn:take(n), or raises with txn:fail(...).
local M = {}

-- Largest count one call may ask for.
M.max_count = 10

function M.pick(txn, count)
  local numbers = txn:take(count)
  local held = txn:held("active_projects", "project_number", numbers)
  local conflicts = {}
  for _, n in ipairs(numbers) do
    if held[n] then
      local entry = txn:element(held[n])
      conflicts[#conflicts + 1] = { project_number = n,
        project_name = type(entry) == "table" and entry.project_name or nil }
    end
  end
  if #conflicts > 0 then
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
  return numbers
end

return M
